// TRUST_PROXY, read the way Express reads `trust proxy` (proxy-addr, the parser Express itself uses), so a value
// the config accepts is one every worker accepts; and the check that a list trusts only private addresses.
// Used by config.ts, in the primary and in each worker.
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';

/** Express's `trust proxy`: false, true, a number of proxies (hops), or a list of addresses, subnets and names. */
export type TrustProxy = boolean | number | string[];

/** The names proxy-addr knows, and what they stand for: every address in them is private. */
const namedRanges: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};
const privateRanges = Object.values(namedRanges).flat().map((range) => ipaddr.parseCIDR(range));

export const TRUST_PROXY_FORMS =
  'true, false, a number of proxies (1), or a comma-separated list of addresses, subnets and names ' +
  '(10.0.0.5, 10.0.0.0/8, 10.0.0.0/255.0.0.0, fd00::/8, loopback, linklocal, uniquelocal)';

/** `raw` as Express will take it, or why proxy-addr would refuse it (which would stop every worker at start). */
export function parseTrustProxy(raw: string): { value: TrustProxy } | { problem: string } {
  if (raw === '' || raw === 'false' || raw === '0') return { value: false };
  if (raw === 'true') return { value: true };
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    return Number.isSafeInteger(hops) ? { value: hops } : { problem: `${raw} is not a number of proxies` };
  }
  // Express splits a string on commas and trims each entry before proxy-addr compiles them: the same here.
  const entries = raw.split(',').map((entry) => entry.trim());
  try {
    proxyAddr.compile(entries);
  } catch (error) {
    return { problem: (error as Error).message };
  }
  return { value: entries };
}

/** The entries of a list that reach beyond the private ranges (loopback, link-local, unique-local): public addresses. */
export function publicEntries(entries: readonly string[]): string[] {
  return entries.filter((entry) => !(entry in namedRanges) && !isPrivate(entry));
}

/** Whether every address of `entry` (an address, a CIDR subnet, or an IPv4 address/netmask) is private. */
function isPrivate(entry: string): boolean {
  const slash = entry.lastIndexOf('/');
  let address = ipaddr.parse(slash === -1 ? entry : entry.slice(0, slash));
  // As proxy-addr does: a lone IPv4-mapped IPv6 address stands for its IPv4 address; with a prefix it stays IPv6.
  if (slash === -1 && address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) address = (address as ipaddr.IPv6).toIPv4Address();
  const max = address.kind() === 'ipv6' ? 128 : 32;
  const range = slash === -1 ? '' : entry.slice(slash + 1);
  const bits = slash === -1 ? max : /^\d+$/.test(range) ? Number(range) : ipaddr.parse(range).prefixLengthFromSubnetMask()!;
  // CIDR blocks nest or do not meet: the entry lies inside a private block when it is no larger than that block
  // and its first address is in it.
  return privateRanges.some(([network, prefix]) => network.kind() === address.kind() && bits >= prefix && (address as ipaddr.IPv4).match(network as ipaddr.IPv4, prefix));
}
