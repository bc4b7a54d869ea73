# lib/: libkup, the userspace side (kup.h).  Shared and static builds, with
# the provider client backend always and the kernel-device backend
# (lib/kp_kdev.c) when present.  Only the kernproxy_* API is exported.
KP_HAVE_KDEV := $(if $(wildcard lib/kp_kdev.c),1,)

# Source list and preprocessor flags: tests/ build sanitizer variants from these.
LIBKUP_SRC := lib/kp_api.c lib/kp_loop.c lib/kp_prov.c uspace/kup_wire.c \
	$(wildcard lib/kp_kdev.c) $(CORE_SRC) uspace/kup_plat.c
LIBKUP_CPPFLAGS := $(if $(KP_HAVE_KDEV),-DKP_HAVE_KDEV)
LIBKUP_HDRS := include/kup.h include/kup_abi.h lib/kp_backend.h uspace/kup_plat.h \
	core/kup_core.h uspace/kup_wire.h

LIBKUP_SO := $(B)/lib/libkup.so
LIBKUP_SOV := $(B)/lib/libkup.so.0
LIBKUP_A := $(B)/lib/libkup.a
LIBKUP_OBJ := $(patsubst %.c,$(B)/obj/libkup/%.o,$(LIBKUP_SRC))

$(B)/obj/libkup/%.o: %.c $(LIBKUP_HDRS) mk/lib.mk
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(LIBKUP_CPPFLAGS) $(CFLAGS) $(LIB_LTO) -fPIC -fvisibility=hidden -c $< -o $@

$(LIBKUP_SOV): $(LIBKUP_OBJ) lib/libkup.map
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_LTO) -shared -Wl,-soname,libkup.so.0 -Wl,--version-script=lib/libkup.map \
		-Wl,--no-undefined $(LDFLAGS) $(LIBKUP_OBJ) -o $@ $(LDLIBS_THR)

$(LIBKUP_SO): $(LIBKUP_SOV)
	ln -sf libkup.so.0 $@

$(LIBKUP_A): $(LIBKUP_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $(LIBKUP_OBJ)

ALL += $(LIBKUP_SO) $(LIBKUP_A)

# kupctl links libkup's objects directly: it shows the device geometry too.
KUPCTL := $(B)/tools/kupctl
$(KUPCTL): tools/kupctl.c $(LIBKUP_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(LIBKUP_CPPFLAGS) $(CFLAGS) $(LDFLAGS) tools/kupctl.c $(LIBKUP_OBJ) -o $@ $(LDLIBS_THR)

ALL += $(KUPCTL)

# pkg-config files, generated at install time for the install prefix.
KUP_PC_SED := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCDIR@|$(INCDIR)|g'

KUP_PUBLIC_HDRS := include/kup.h include/kupdev.h include/kup_abi.h include/kupsvc.h
KUP_MAN := $(wildcard docs/man/*.3)
KUP_MAN1 := $(wildcard docs/man/*.1)
KUP_MAN7 := $(wildcard docs/man/*.7)

# The public headers, once: install-lib and install-provider both need them,
# and under make -j two installs of one file race ("File exists").
.PHONY: install-headers
install-headers:
	install -d $(DESTDIR)$(INCDIR)
	install -m 0644 $(KUP_PUBLIC_HDRS) $(DESTDIR)$(INCDIR)/

.PHONY: install-lib
install-lib: $(LIBKUP_SO) $(LIBKUP_A) $(KUPCTL) install-headers
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(BINDIR)
	install -m 0755 $(LIBKUP_SOV) $(DESTDIR)$(LIBDIR)/
	ln -sf libkup.so.0 $(DESTDIR)$(LIBDIR)/libkup.so
	install -m 0644 $(LIBKUP_A) $(DESTDIR)$(LIBDIR)/
	$(KUP_PC_SED) lib/kup.pc.in > $(DESTDIR)$(PKGDIR)/kup.pc
	$(if $(KUP_MAN),install -m 0644 $(KUP_MAN) $(DESTDIR)$(MANDIR)/man3/)
	$(if $(KUP_MAN1),install -m 0644 $(KUP_MAN1) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(KUP_MAN7),install -m 0644 $(KUP_MAN7) $(DESTDIR)$(MANDIR)/man7/)
	install -m 0755 $(KUPCTL) $(DESTDIR)$(BINDIR)/

INSTALL_DEPS += install-lib

# kp_api.c is compiled with -DKP_HAVE_KDEV once lib/kp_kdev.c exists.
$(B)/obj/libkup/lib/kp_api.o: $(wildcard lib/kp_kdev.c)
