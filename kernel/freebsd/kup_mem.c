/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_mem.c - the pages of one channel attach, and process mappings of them.
 *
 * The pages: an OBJT_PHYS VM object (zeroed when first faulted, never
 * paged out), wired into kernel_map for the kern side, as System V shared
 * memory mapped into the kernel.
 *
 * A process maps them through an OBJT_DEVICE pager object per mmap(2)
 * (cdev_pager_allocate with a handle of our own, struct kup_kmap): its
 * fault handler hands out fictitious pages at the wired pages' physical
 * addresses, and its destructor runs when the object's last mapping goes
 * (munmap, exit, exec).  That is how kup.ko hears of munmap: the last
 * mapping of an attach detaches it, as close does.  The pager object
 * holds a reference on the pages, so they stay valid while any mapping
 * exists, after detach, kupdev_unload and the module's own unload alike.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/mutex.h>
#include <sys/refcount.h>
#include <sys/rwlock.h>
#include <sys/sx.h>

#include <vm/vm.h>
#include <vm/vm_param.h>
#include <vm/pmap.h>
#include <vm/vm_map.h>
#include <vm/vm_object.h>
#include <vm/vm_page.h>
#include <vm/vm_pager.h>
#include <vm/vm_extern.h>
#include <vm/vm_kern.h>

#include "kup_host.h"

int kup_mem_alloc(uint32_t size, struct kup_kmem **memp)
{
	struct kup_kmem *mem;
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
void kup_mem_put(struct kup_kmem *mem)
{
	if (mem == NULL || !refcount_release(&mem->ref))
		return;
	vm_map_remove(kernel_map, mem->kva, mem->kva + mem->len);
	vm_object_deallocate(mem->obj);
	free(mem, M_KUP);
}

/*
 * off when off < len, else 0, without a branch (a borrow of off - len
 * decides), so a mispredicted bounds check cannot reach past the pages.
 */
static __inline uint64_t kup_off_nospec(uint64_t off, uint64_t len)
{
	uint64_t borrow, mask;

	borrow = ((~off & len) | (~(off ^ len) & (off - len))) >> 63;
	mask = 0 - borrow;
	__asm__ __volatile__("" : "+r"(mask));
	return (off & mask);
}

/*
 * How a fault handler puts its fictitious page in place of the page it was
 * handed, and marks it valid, changed in 13.0: vm_page_replace frees the
 * page it replaces itself (freeing it again panics an INVARIANTS kernel at
 * the next allocation: "page ... has object"), vm_page_replace_checked is
 * gone, page locks left vm_page_free, vm_page_valid came.
 * 13-CURRENT snapshots between 1300010 and 13.0 are not supported.
 */
#if __FreeBSD_version >= 1300139
#define KUP_PAGE_REPLACE(new, obj, old) vm_page_replace((new), (obj), (old)->pindex, (old))
#define KUP_PAGE_VALID(m)               vm_page_valid(m)
#else
#define KUP_PAGE_REPLACE(new, obj, old)                                                            \
	do {                                                                                       \
		vm_page_replace_checked((new), (obj), (old)->pindex, (old));                       \
		vm_page_lock(old);                                                                 \
		vm_page_free(old);                                                                 \
		vm_page_unlock(old);                                                               \
	} while (0)
#define KUP_PAGE_VALID(m) ((m)->valid = VM_PAGE_BITS_ALL)
#endif

/* A mapping is gone (its object died) or was never made. */
static void kup_map_drop(struct kup_kmap *map)
{
	struct kupdev_softc *sc = map->sc;
	struct kup_kchan *ch = map->ch;
	struct kup_kmem *mem = map->mem;
	int last;

	mtx_lock(&ch->mtx);
	last = --mem->maps == 0 && mem->mapped;
	mtx_unlock(&ch->mtx);
	if (last)
		kup_detach(ch, mem->gen); /* the attach's last mapping: munmap detaches */
	kup_mem_put(mem);
	free(map, M_KUP);
	kup_sc_release(sc); /* may free sc */
}

/*
 * Called by every cdev_pager_allocate, the destructor once per object;
 * each of our handles makes one object, so the references are taken and
 * dropped around the object in kup_mem_mmap and kup_pg_dtor instead.
 */
static int kup_pg_ctor(void *handle, vm_ooffset_t size, vm_prot_t prot, vm_ooffset_t foff,
                       struct ucred *cred, u_short *color)
{
	*color = 0;
	return (0);
}

/* The object's last mapping went; runs unlocked, may sleep. */
static void kup_pg_dtor(void *handle)
{
	kup_map_drop(handle);
}

/*
 * A process touched a page of the mapping (the object locked): a
 * fictitious page at the wired page's physical address, as the device
 * pager does for d_mmap.  The pages cannot go meanwhile: the object holds
 * a reference on them.
 */
static int kup_pg_fault(vm_object_t object, vm_ooffset_t offset, int prot, vm_page_t *mres)
{
	struct kup_kmap *map = object->handle;
	struct kup_kmem *mem = map->mem;
	vm_paddr_t paddr;
	vm_page_t page;
	uint64_t off = (uint64_t)offset;

	if (off >= mem->len)
		return (VM_PAGER_FAIL);
	off = kup_off_nospec(off, mem->len);
	paddr = pmap_kextract(mem->kva + (vm_offset_t)off);
	if (((*mres)->flags & PG_FICTITIOUS) != 0) {
		page = *mres;
		vm_page_updatefake(page, paddr, VM_MEMATTR_DEFAULT);
	} else {
		/* getfake may sleep: not with the object locked. */
		VM_OBJECT_WUNLOCK(object);
		page = vm_page_getfake(paddr, VM_MEMATTR_DEFAULT);
		VM_OBJECT_WLOCK(object);
		KUP_PAGE_REPLACE(page, object, *mres);
		*mres = page;
	}
	KUP_PAGE_VALID(page);
	return (VM_PAGER_OK);
}

/* Not const: cdev_pager_allocate takes a non-const pointer. */
static struct cdev_pager_ops kup_pager_ops = {
    .cdev_pg_ctor = kup_pg_ctor,
    .cdev_pg_dtor = kup_pg_dtor,
    .cdev_pg_fault = kup_pg_fault,
};

/*
 * d_mmap_single for the file of attach gen.  The kern block's data pages
 * (after its control page) may only be mapped without write; its control
 * page (kup_abi.h) and the user block read-write.  Never executable, never
 * outside.
 * Every call makes a pager object of its own (see kup_pg_ctor).
 * Note: FreeBSD derives a mapping's maximum protection from the file's
 * open mode, not from the driver, so a process can mprotect the kern
 * block writable after mapping it.  That only breaks its own channel: the
 * kern side never reads its own block back (trust.md).
 */
int kup_mem_mmap(struct kup_kchan *ch, uint32_t gen, vm_ooffset_t *offset, vm_size_t len,
                 struct vm_object **objp, int nprot)
{
	struct kupdev_softc *sc = ch->sc;
	uint64_t off = (uint64_t)*offset, mlen = KUP_MAP_LEN(sc->d.size);
	struct kup_kmap *map;
	struct kup_kmem *mem;
	vm_object_t obj;

	if (len == 0 || off > mlen || len > mlen - off)
		return (EINVAL);
	if ((nprot & VM_PROT_EXECUTE) != 0)
		return (EACCES);
	if ((nprot & VM_PROT_WRITE) != 0 && KUP_MAP_KERN_DATA(off, len, sc->d.size))
		return (EACCES);
	map = malloc(sizeof(*map), M_KUP, M_WAITOK | M_ZERO);
	mtx_lock(&ch->mtx);
	mem = kup_chan_attached(ch, gen);
	if (mem == NULL) {
		mtx_unlock(&ch->mtx);
		free(map, M_KUP);
		return (ENOTCONN); /* detached: closed by munmap */
	}
	mem->maps++;
	refcount_acquire(&mem->ref);
	mtx_unlock(&ch->mtx);
	/* sc lives: we are inside a d_* method, which destroy_dev waits for. */
	kup_sc_hold(sc);
	map->sc = sc;
	map->ch = ch;
	map->mem = mem;
	obj = cdev_pager_allocate(map, OBJT_DEVICE, &kup_pager_ops, mem->len, nprot, 0, NULL);
	if (obj == NULL) {
		kup_map_drop(map);
		return (ENOMEM);
	}
	mtx_lock(&ch->mtx);
	mem->mapped = 1;
	mtx_unlock(&ch->mtx);
	*objp = obj; /* with the object's first reference, for the mapping */
	return (0);
}
