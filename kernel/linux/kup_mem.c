// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_mem.c - the memory of one attach: pages charged to the attaching
 * process, the kernel's vmap of them, and the two counts that keep them.
 */
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kup_host.h"

#if PAGE_SIZE != KUP_PAGE
#error "kup.ko needs 4 KiB pages: the shared layout is in KUP_PAGE units"
#endif

/*
 * Charged to the attaching process's memory cgroup (it runs this), zeroed,
 * and given back as ENOMEM rather than by waking the OOM killer: a channel
 * can be 128 MiB.
 */
#define KUP_MEM_GFP (GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN | __GFP_RETRY_MAYFAIL)

static void kup_mem_free_pages(struct page **pages, unsigned long n)
{
	/* Pages still mapped by a process keep the reference each mapping took. */
	while (n)
		__free_page(pages[--n]);
	kvfree(pages);
}

struct kup_kmem *kup_mem_alloc(uint32_t size, uint32_t chan, uint32_t chan_cnt)
{
	unsigned long i, n = KUP_MAP_LEN(size) >> PAGE_SHIFT;
	struct kup_kmem *m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);

	if (!m)
		return NULL;
	m->pages = kvmalloc_array(n, sizeof(*m->pages), GFP_KERNEL_ACCOUNT);
	if (!m->pages)
		goto fail;
	for (i = 0; i < n; i++) {
		m->pages[i] = alloc_page(KUP_MEM_GFP);
		if (!m->pages[i] || fatal_signal_pending(current))
			goto fail_pages;
		cond_resched();
	}
	/* The kernel's view; mmap inserts the same pages (vm_insert_pages). */
	m->va = vmap(m->pages, n, VM_MAP, PAGE_KERNEL);
	if (!m->va)
		goto fail_pages;
	m->npages = n;
	kref_init(&m->ref);
	kref_init(&m->pref);
	m->size = size;
	m->chan = chan;
	init_waitqueue_head(&m->kwq);
	init_waitqueue_head(&m->uwq);
	kup_chan_format(m->va, (uint8_t *)m->va + KUP_BLOCK_LEN(size), size, chan, chan_cnt);
	return m;

fail_pages:
	if (i < n && m->pages[i])
		i++; /* allocated, then a fatal signal */
	kup_mem_free_pages(m->pages, i);
fail:
	kfree(m);
	return NULL;
}

static void kup_mem_release_pages(struct kref *pref)
{
	struct kup_kmem *m = container_of(pref, struct kup_kmem, pref);

	vunmap(m->va);
	kup_mem_free_pages(m->pages, m->npages);
	m->va = NULL;
	m->pages = NULL;
}

static void kup_mem_release(struct kref *ref)
{
	kfree(container_of(ref, struct kup_kmem, ref));
}

void kup_mem_get(struct kup_kmem *m)
{
	kref_get(&m->ref);
	kref_get(&m->pref);
}

void kup_mem_put(struct kup_kmem *m)
{
	if (m) {
		kref_put(&m->pref, kup_mem_release_pages);
		kref_put(&m->ref, kup_mem_release);
	}
}

/* The file's own reference at release: the object only (its pref is gone). */
void kup_mem_put_obj(struct kup_kmem *m)
{
	if (m)
		kref_put(&m->ref, kup_mem_release);
}

int kup_mem_get_pages(struct kup_kmem *m)
{
	return kref_get_unless_zero(&m->pref);
}

void kup_mem_put_pages(struct kup_kmem *m)
{
	kref_put(&m->pref, kup_mem_release_pages);
}
