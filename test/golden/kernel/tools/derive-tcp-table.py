#!/usr/bin/env python3
"""derive-tcp-table.py recorded/tcp-states/tcp-states.jsonl > recorded/tcp-states/transitions.json

Condenses tcp-states.jsonl into observed transitions. A "last"-snapshot
sequence "P1 ... Pk X" whose prefix "P1 ... Pk" is itself a sequence of the
file (same mode) gives the cell (state after the prefix, X) -> state after X;
"each" sequences give one cell per step. Output: a JSON object
  {"nat": {"FROM": {"i:S": "TO", ...}, ...}, "dr": {...}}
where FROM/TO are the -c state names, "NONE" = no conn before / "-" = no conn
after, and "+"-joined names if several conns were listed. Each cell also
records activeconn/inactconn after the packet as "TO a/i". Cells seen with
two different outcomes would be listed as a list (none were)."""
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def st(r):
    return '+'.join(c['state'] for c in r['conns']) or '-'
bysteps = {}
for r in rows:
    bysteps.setdefault((r['mode'], r['seq']), {})[r['step']] = r
final = {}
for (mode, seq), steps in bysteps.items():
    r = steps[max(steps)]
    final[(mode, r['name'])] = r
out = {}
def add(mode, frm, pkt, r):
    cell = out.setdefault(mode, {}).setdefault(frm, {})
    v = '%s %s/%s' % (st(r), r['active'], r['inact'])
    if pkt in cell and cell[pkt] != v:
        cell[pkt] = sorted(set((cell[pkt] if isinstance(cell[pkt], list) else [cell[pkt]]) + [v]))
    else:
        cell[pkt] = v
for (mode, seq), steps in sorted(bysteps.items()):
    toks = steps[min(steps)]['name'].split()
    if len(steps) > 1:          # "each": consecutive snapshots
        prev = 'NONE'
        for i in sorted(steps):
            r = steps[i]
            if not r['pkt'].startswith('w:'):
                add(mode, prev, r['pkt'], r)
            prev = st(r)
    else:
        r = steps[max(steps)]
        pre = ' '.join(toks[:-1])
        if pre == '':
            add(mode, 'NONE', toks[-1], r)
        elif (mode, pre) in final:
            add(mode, st(final[(mode, pre)]), toks[-1], r)
print(json.dumps(out, indent=1, sort_keys=True))
