# KUP top-level build.  `make` builds what this machine can build, `make test`
# runs every suite, `make demo` runs the echo example.  Each part of the tree
# has its rules in mk/<part>.mk; suites register themselves in SUITES.
.DEFAULT_GOAL := all
SHELL := /bin/bash

include mk/common.mk
include $(filter-out mk/common.mk,$(sort $(wildcard mk/[a-z]*.mk)))

.PHONY: all test demo deps install clean format

all: $(ALL)

deps:
	@scripts/deps.sh $(DEPS_GROUPS)

# Every suite prints "N passed, N failed"; run-suites.sh adds them up.
# SUITES_LAST (the VM suite) runs after every native suite.
test: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-suites.sh $(SUITES) $(SUITES_LAST)

install: $(INSTALL_DEPS)

clean:
	rm -rf $(B)

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^tests/kt.h$$')
