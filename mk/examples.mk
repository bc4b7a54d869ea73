# examples/: the echo service (one source for every host) as a provider
# program, its client, and the demo.  `make demo` runs the provider demo
# (demo-provider); the VM variant hooks in beside it.
ECHO_PROV := $(B)/examples/kup_echo
ECHO_CLIENT := $(B)/examples/echo_client
EX_HDRS := include/kupdev.h include/kupsvc.h include/kup.h include/kup_abi.h \
	provider/kupsvc_host.h

# libkup/libkupdev are built by mk/lib.mk and mk/provider.mk (included later:
# hence the literal paths).  The programs find them in ../lib of their folder.
EX_RPATH := -Wl,-rpath,'$$ORIGIN/../lib'

$(ECHO_PROV): examples/echo/kup_echo.c $(EX_HDRS) $(B)/lib/libkupdev.so mk/examples.mk
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) -Iprovider $(CFLAGS) $< -o $@ -L$(B)/lib -lkupdev $(EX_RPATH) $(LDLIBS_THR)

$(ECHO_CLIENT): examples/echo/echo_client.c $(EX_HDRS) $(B)/lib/libkup.so mk/examples.mk
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(CFLAGS) $< -o $@ -L$(B)/lib -lkup $(EX_RPATH) $(LDLIBS_THR)

ALL += $(ECHO_PROV) $(ECHO_CLIENT)

.PHONY: demo-provider
demo: demo-provider

# deps first, then the build, then the run: kept in order even under make -j.
demo-provider: deps
	@$(MAKE) --no-print-directory $(ECHO_PROV) $(ECHO_CLIENT)
	@B=$(B) examples/echo/demo.sh
