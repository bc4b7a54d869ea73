/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_mem.c - the pages of one channel attach.
 *
 * An OBJT_PHYS VM object (pages are zeroed when first faulted, never paged
 * out), wired into kernel_map for the kern side, and handed to the process
 * by d_mmap_single with a reference of its own: the pages stay valid while
 * any mapping exists, after detach, kupdev_unload and kldunload alike.
 * The same pattern as System V shared memory mapped into the kernel.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/mutex.h>
#include <sys/refcount.h>
#include <sys/rwlock.h>

#include <vm/vm.h>
#include <vm/vm_param.h>
#include <vm/pmap.h>
#include <vm/vm_map.h>
#include <vm/vm_object.h>
#include <vm/vm_page.h>
#include <vm/vm_pager.h>
#include <vm/vm_extern.h>
#include <vm/vm_kern.h>

#include "kup_fbsd.h"

int
kup_mem_alloc(uint32_t size, struct kup_fmem **memp)
{
	struct kup_fmem *mem;
	vm_object_t obj;
	vm_offset_t kva;
	size_t len;
	int rv;

	len = KUP_MAP_LEN(size);
	obj = vm_pager_allocate(OBJT_PHYS, NULL, len, VM_PROT_DEFAULT, 0, NULL);
	if (obj == NULL)
		return (ENOMEM);
	/* kernel_map's entry takes a reference of its own; ours stays. */
	vm_object_reference(obj);
	kva = vm_map_min(kernel_map);
	rv = vm_map_find(kernel_map, obj, 0, &kva, len, 0, VMFS_OPTIMAL_SPACE,
	    VM_PROT_READ | VM_PROT_WRITE, VM_PROT_READ | VM_PROT_WRITE, 0);
	if (rv != KERN_SUCCESS) {
		vm_object_deallocate(obj);
		vm_object_deallocate(obj);
		return (ENOMEM);
	}
	/* Fault every page in (zero-filled) and keep it: the kernel never faults later. */
	rv = vm_map_wire(kernel_map, kva, kva + len, VM_MAP_WIRE_SYSTEM | VM_MAP_WIRE_NOHOLES);
	if (rv != KERN_SUCCESS) {
		vm_map_remove(kernel_map, kva, kva + len);
		vm_object_deallocate(obj);
		return (ENOMEM);
	}
	mem = malloc(sizeof(*mem), M_KUP, M_WAITOK | M_ZERO);
	mem->obj = obj;
	mem->kva = kva;
	mem->len = len;
	refcount_init(&mem->ref, 1);
	*memp = mem;
	return (0);
}

/* Drop a reference; the last one drops the kernel's mapping (process mappings stay). */
void
kup_mem_put(struct kup_fmem *mem)
{
	if (mem == NULL || !refcount_release(&mem->ref))
		return;
	vm_map_remove(kernel_map, mem->kva, mem->kva + mem->len);
	vm_object_deallocate(mem->obj);
	free(mem, M_KUP);
}

/*
 * d_mmap_single for an attached file.  The kern block (offset 0, one
 * control page and `size` data pages) may only be mapped without write;
 * the user block after it read-write.  Never executable, never outside.
 * Note: FreeBSD derives a mapping's maximum protection from the file's
 * open mode, not from the driver, so a process can mprotect the kern
 * block writable after mapping it.  That only breaks its own channel: the
 * kern side never reads its own block back (trust.md).
 */
int
kup_mem_mmap(struct kup_fmem *mem, uint32_t size, vm_ooffset_t *offset, vm_size_t len,
    struct vm_object **objp, int nprot)
{
	vm_ooffset_t off = *offset;

	if (len == 0 || off > mem->len || len > mem->len - off)
		return (EINVAL);
	if ((nprot & VM_PROT_EXECUTE) != 0)
		return (EACCES);
	if ((nprot & VM_PROT_WRITE) != 0 && off < KUP_BLOCK_LEN(size))
		return (EACCES);
	vm_object_reference(mem->obj);
	*objp = mem->obj;
	return (0);
}
