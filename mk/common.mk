# Shared settings: compilers, flags, where things go.
B ?= build
CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
PKGDIR ?= $(LIBDIR)/pkgconfig

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS ?= -O2 -g
# The libraries are optimised across their files (a kupdev_* call and the
# core it runs are one function after inlining); fat objects keep the
# static libraries usable by a link without LTO.  LIB_LTO= turns it off.
LIB_LTO ?= -flto=auto -ffat-lto-objects
KUP_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -Iuspace -Ilib -Icore -Itests
LDLIBS_THR := -lpthread

# Core sources (core/sources.mk), compiled unchanged into every host;
# CORE_DEV_SRC, the kupdev_* API, into the kern-side hosts only.
include core/sources.mk
CORE_SRC := $(patsubst %,core/%.c,$(KUP_CORE))
CORE_DEV_SRC := $(patsubst %,core/%.c,$(KUP_CORE_DEV))

ALL :=
SUITES :=
DEPS_GROUPS := build
INSTALL_DEPS :=

$(B)/%/.dir:
	@mkdir -p $(dir $@) && touch $@
