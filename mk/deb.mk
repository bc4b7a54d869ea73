# Debian packages (debian/): kup-dkms, libkup0, libkupdev0, libkup-dev,
# kup-tools.  `make deb` runs dpkg-buildpackage in a copy of the tree under
# $(B)/deb/src, so its output (which dpkg puts in the parent directory)
# stays under $(B); the .debs, .changes and .buildinfo end in $(B)/deb.
# suite-deb checks them: contents, lintian, DKMS against the VM's kernel
# headers, and the VM suite with the DKMS-built kup.ko (tests/deb/run.sh).
DEB_OUT := $(B)/deb
DEB_SRC := $(DEB_OUT)/src/kup
DEPS_GROUPS += deb
SUITES_LAST += deb

.PHONY: deb deb-build dkms-src suite-deb deb-print-%

# The tracked tree and new files not ignored (what a clone would build
# from, plus work in progress); outside git, the tree less build/.
deb:
	@scripts/deps.sh deb
	@rm -rf $(DEB_OUT)/src && mkdir -p $(DEB_SRC)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z -co --exclude-standard | \
			while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done | \
			xargs -0 cp --parents -P -t $(DEB_SRC); \
	else tar -c --exclude=./build --exclude=./$(B) . | tar -x -C $(DEB_SRC); fi
	cd $(DEB_SRC) && nice dpkg-buildpackage -us -uc -b
	@rm -f $(DEB_OUT)/*.deb $(DEB_OUT)/*.changes $(DEB_OUT)/*.buildinfo
	@mv $(DEB_OUT)/src/*.deb $(DEB_OUT)/src/*.changes $(DEB_OUT)/src/*.buildinfo $(DEB_OUT)/
	@ls -l $(DEB_OUT)/*.deb

# debian/rules' build step: what the binary packages hold.  (A recipe, not
# prerequisites: lib.mk and provider.mk are read after this file.)
deb-build:
	@$(MAKE) --no-print-directory $(LIBKUP_SO) $(LIBKUP_A) $(KUPDEV_SO) $(KUPDEV_A) $(KUPCTL)

# kup-dkms's /usr/src/kup-VERSION, from the build's own lists: kup.ko's
# sources (mk/linux.mk's KUP_KSRC: kernel/linux's and the core's) flat at the top, as
# mk/linux.mk stages them for Kbuild, with kernel/linux/Kbuild unchanged;
# the headers (LINUX_HDRS) keep their places for its -I$(KUP_TOP)/... flags.
# So do the files Kbuild includes from $(KUP_TOP) (the core's source list).
# dh_dkms adds dkms.conf (debian/kup-dkms.dkms).
DKMS_DEST ?= $(DEB_OUT)/dkms-src
DKMS_KBUILD_INC = $(shell sed -n 's|^-\{0,1\}include *$$(KUP_TOP)/||p' kernel/linux/Kbuild)
dkms-src:
	@[ -n "$(DKMS_DEST)" ] && rm -rf "$(DKMS_DEST)" && mkdir -p "$(DKMS_DEST)"
	install -m 0644 $(KUP_KSRC) kernel/linux/Kbuild "$(DKMS_DEST)/"
	@for h in $(LINUX_HDRS) $(DKMS_KBUILD_INC); do install -D -m 0644 $$h "$(DKMS_DEST)/$$h" || exit 1; done

# For tests/deb/run.sh: a variable of the build (make -s deb-print-KUP_KSRC).
deb-print-%:
	@echo $($*)

# It boots the VM: a SUITES_LAST suite.  DKMS builds kup.ko for the VM's
# kernel headers and for Debian 12's 6.12 line where apt has it (the
# headers suite-vm-6.12 fetches into $(B)/k6.12 too).
DEB_K612 := linux-image-6.12-amd64
suite-deb:
	@$(MAKE) --no-print-directory $(VM_KDIR_FILE)
	@more=; if tests/vm/kernel-available.sh $(DEB_K612) $(B)/k6.12/vm; then \
		$(MAKE) --no-print-directory B=$(B)/k6.12 VM_KERNEL=$(DEB_K612) \
			$(abspath $(B)/k6.12)/vm/kdir && more=$$(cat $(abspath $(B)/k6.12)/vm/kdir); \
	else echo "# $(DEB_K612) is not in this machine's apt sources: DKMS builds for the VM's kernel only"; fi; \
	B=$(B) DEB_KDIR=$$(cat $(VM_KDIR_FILE)) DEB_KDIRS_MORE=$$more tests/deb/run.sh
