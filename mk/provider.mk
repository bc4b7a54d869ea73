# provider/: libkupdev, the kupdev.h API inside an ordinary process (the
# user-mode provider).  Shared and static builds; only the API is exported.
KUPDEV_SRC := provider/kpv_dev.c provider/kpv_chan.c provider/kpv_gate.c uspace/kup_wire.c \
	$(CORE_SRC) $(CORE_DEV_SRC) uspace/kup_plat.c
KUPDEV_CPPFLAGS := -Iprovider
KUPDEV_HDRS := include/kupdev.h include/kup_abi.h provider/kpv.h provider/kpv_gate.h uspace/kup_wire.h \
	uspace/kup_plat.h core/kup_core.h core/kup_os.h

KUPDEV_SO := $(B)/lib/libkupdev.so
KUPDEV_SOV := $(B)/lib/libkupdev.so.0
KUPDEV_A := $(B)/lib/libkupdev.a
KUPDEV_OBJ := $(patsubst %.c,$(B)/obj/kupdev/%.o,$(KUPDEV_SRC))

$(B)/obj/kupdev/%.o: %.c $(KUPDEV_HDRS) mk/provider.mk
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(KUPDEV_CPPFLAGS) $(CFLAGS) $(LIB_LTO) -fPIC -fvisibility=hidden -c $< -o $@

# The version script comes from the one list of exported symbols, core/kup_syms.h.
KUPDEV_MAP := $(B)/obj/kupdev/libkupdev.map
$(KUPDEV_MAP): core/kup_syms.h mk/provider.mk
	@mkdir -p $(dir $@)
	@{ echo 'LIBKUPDEV_0 {'; echo '	global:'; \
	  sed -n 's/^KUP_SYM(\([a-z_]*\))$$/		\1;/p' $<; \
	  echo '	local:'; echo '		*;'; echo '};'; } >$@.tmp && mv $@.tmp $@

$(KUPDEV_SOV): $(KUPDEV_OBJ) $(KUPDEV_MAP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_LTO) -shared -Wl,-soname,libkupdev.so.0 -Wl,--version-script=$(KUPDEV_MAP) \
		-Wl,--no-undefined $(LDFLAGS) $(KUPDEV_OBJ) -o $@ $(LDLIBS_THR)

$(KUPDEV_SO): $(KUPDEV_SOV)
	ln -sf libkupdev.so.0 $@

$(KUPDEV_A): $(KUPDEV_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $(KUPDEV_OBJ)

ALL += $(KUPDEV_SO) $(KUPDEV_A)

.PHONY: install-provider
install-provider: $(KUPDEV_SO) $(KUPDEV_A) install-headers
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGDIR)
	$(if $(wildcard provider/kupsvc_host.h),install -m 0644 provider/kupsvc_host.h $(DESTDIR)$(INCDIR)/kupsvc_host.h)
	install -m 0755 $(KUPDEV_SOV) $(DESTDIR)$(LIBDIR)/
	ln -sf libkupdev.so.0 $(DESTDIR)$(LIBDIR)/libkupdev.so
	install -m 0644 $(KUPDEV_A) $(DESTDIR)$(LIBDIR)/
	$(KUP_PC_SED) lib/kupdev.pc.in > $(DESTDIR)$(PKGDIR)/kupdev.pc

INSTALL_DEPS += install-provider

# The provider's channel gate, against libkupdev and libkup (kpv_gate.c is
# built in: the libraries do not export it).
GATE_TEST := $(B)/tests/test_gate
$(GATE_TEST): tests/unit/test_gate.c provider/kpv_gate.c provider/*.h tests/kt.h $(KUPDEV_SO) $(LIBKUP_SO)
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) -Iprovider $(CFLAGS) tests/unit/test_gate.c provider/kpv_gate.c -o $@ \
		-L$(B)/lib -lkupdev -lkup -Wl,-rpath,'$$ORIGIN/../lib' $(LDLIBS_THR)

# Again with ASan from the libraries' sources: a caller touching a device
# that unload freed fails there.
GATE_ASAN := $(B)/asan/test_gate
$(GATE_ASAN): tests/unit/test_gate.c tests/kt.h $(sort $(KUPDEV_SRC) $(LIBKUP_SRC)) $(KUPDEV_HDRS) \
		$(LIBKUP_HDRS) mk/provider.mk
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(KUPDEV_CPPFLAGS) $(LIBKUP_CPPFLAGS) $(KT_ASAN_FLAGS) tests/unit/test_gate.c \
		$(sort $(KUPDEV_SRC) $(LIBKUP_SRC)) -o $@ $(LDLIBS_THR)

ALL += $(GATE_TEST) $(GATE_ASAN)
SUITES += gate
.PHONY: suite-gate
suite-gate: $(GATE_TEST) $(GATE_ASAN)
	KUP_QUIET=1 $(GATE_TEST)
	KUP_QUIET=1 $(GATE_ASAN)
