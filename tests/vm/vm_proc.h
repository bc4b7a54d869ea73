/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * vm_proc.h - what the Linux guest programs (vmtest.c, soak.c) read and
 * write of the kernel's own files: /proc/meminfo, sysfs parameters and
 * memory cgroups.  Included once per program.
 */
#ifndef VM_PROC_H
#define VM_PROC_H

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt.h"

/*
 * Shrink every slab cache: its empty slabs go back to the page allocator
 * and, on a KASAN kernel, the objects freed into it that KASAN's quarantine
 * still holds (up to 1/32 of memory, counted in Slab until then) are freed.
 * Aliases of merged caches are links: each cache is shrunk once.
 */
static inline void slab_shrink(void)
{
	DIR *d = opendir("/sys/kernel/slab");
	struct dirent *e;
	char path[300];
	int fd;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", e->d_name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (write(fd, "1", 1) != 1) { /* a cache that cannot shrink is read as it is */
		}
		close(fd);
	}
	closedir(d);
}

/* A /proc/meminfo value in kB; Slab after slab_shrink(). */
static inline long meminfo(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f;

	if (!strcmp(key, "Slab"))
		slab_shrink();
	f = fopen("/proc/meminfo", "r");
	KT_ASSERT(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = atol(line + strlen(key) + 1);
	fclose(f);
	KT_ASSERT(v >= 0);
	return v;
}

/* --- memory cgroups: what an attach is charged to ------------------------ */

#define CG "/sys/fs/cgroup"

static inline void put_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		KT_FAIL("open %s: %s", path, strerror(errno));
	n = write(fd, val, strlen(val));
	if (n != (ssize_t)strlen(val))
		KT_FAIL("write %s to %s: %s", val, path, strerror(errno));
	close(fd);
}

/*
 * Move this test process into a fresh child cgroup NAME of a cgroup2 root
 * with the memory controller (mounted here: the initramfs does not).
 */
static inline void cg_enter(const char *name)
{
	char path[128];

	if (access(CG "/cgroup.controllers", F_OK) != 0 &&
	    mount("cgroup2", CG, "cgroup2", 0, NULL) != 0)
		KT_FAIL("mount cgroup2 on " CG ": %s", strerror(errno));
	put_str(CG "/cgroup.subtree_control", "+memory");
	snprintf(path, sizeof(path), CG "/%s", name);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		KT_FAIL("mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), CG "/%s/cgroup.procs", name);
	put_str(path, "0"); /* 0: the writer itself */
}

/* Back to the root cgroup and remove NAME (its charges stay where they are). */
static inline void cg_leave(const char *name)
{
	char path[128];

	put_str(CG "/cgroup.procs", "0");
	snprintf(path, sizeof(path), CG "/%s", name);
	(void)rmdir(path);
}

/* memory.current of cgroup NAME, in KiB. */
static inline long cg_kb(const char *name)
{
	char path[128], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), CG "/%s/memory.current", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		KT_FAIL("open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	KT_ASSERT(n > 0);
	buf[n] = 0;
	return atol(buf) / 1024;
}

#endif /* VM_PROC_H */
