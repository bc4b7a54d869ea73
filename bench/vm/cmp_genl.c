// SPDX-License-Identifier: BSD-2-Clause
/*
 * cmp_genl.c - the generic netlink family "kupcmp": CMP_C_ECHO answers
 * with a unicast reply carrying the same CMP_A_DATA bytes, CMP_C_SINK takes
 * them and answers nothing.  Both run in the sender's context (genetlink
 * calls doit from the sendmsg), as every generic netlink command does.
 */
#include <net/genetlink.h>

#include "cmp.h"

static struct genl_family cmp_family;

static const struct nla_policy cmp_policy[CMP_A_MAX + 1] = {
    [CMP_A_DATA] = {.type = NLA_BINARY, .len = CMP_MAX},
};

static int cmp_genl_echo(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *a = info->attrs[CMP_A_DATA];
	struct sk_buff *rep;
	void *hdr;

	if (!a)
		return -EINVAL;
	rep = genlmsg_new(nla_total_size(nla_len(a)), GFP_KERNEL);
	if (!rep)
		return -ENOMEM;
	hdr = genlmsg_put_reply(rep, info, &cmp_family, 0, CMP_C_ECHO);
	if (!hdr)
		goto full;
	if (nla_put(rep, CMP_A_DATA, nla_len(a), nla_data(a)))
		goto full;
	genlmsg_end(rep, hdr);
	/* Consumes rep, also on failure. */
	return genlmsg_unicast(genl_info_net(info), rep, info->snd_portid);
full:
	nlmsg_free(rep);
	return -EMSGSIZE;
}

static int cmp_genl_sink(struct sk_buff *skb, struct genl_info *info)
{
	return info->attrs[CMP_A_DATA] ? 0 : -EINVAL;
}

static const struct genl_small_ops cmp_genl_ops[] = {
    {.cmd = CMP_C_ECHO, .doit = cmp_genl_echo},
    {.cmd = CMP_C_SINK, .doit = cmp_genl_sink},
};

static struct genl_family cmp_family __ro_after_init = {
    .name = CMP_GENL_NAME,
    .version = CMP_GENL_VERSION,
    .maxattr = CMP_A_MAX,
    .policy = cmp_policy,
    .netnsok = true,
    .module = THIS_MODULE,
    .small_ops = cmp_genl_ops,
    .n_small_ops = ARRAY_SIZE(cmp_genl_ops),
    /* Every command validates strictly (reserved header bytes, attributes). */
    .resv_start_op = CMP_C_ECHO,
};

int cmp_genl_init(void)
{
	return genl_register_family(&cmp_family);
}

void cmp_genl_exit(void)
{
	int r = genl_unregister_family(&cmp_family);

	if (r)
		pr_err("kupcmp: genl_unregister_family: %d\n", r);
}
