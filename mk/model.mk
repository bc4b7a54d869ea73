# tests/model: the Promela model of the turn and wake protocol, checked with
# spin (safety, liveness, and mutants that must fail).  docs/protocol.md
# ("The model") maps its steps to the memory-ordering table.
DEPS_GROUPS += model
SUITES += model
.PHONY: model suite-model

model suite-model:
	@tests/model/run.sh $(B)/model
