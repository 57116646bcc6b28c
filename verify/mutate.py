#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Apply one mutant of verify/mutants.txt to a tree (used by mutate.sh).

    mutate.py list MUTANTS                  ids, one a line: id<TAB>kind<TAB>file<TAB>description
    mutate.py apply MUTANTS ID ROOT         exit 0 applied, 3 stale (not found), 4 ambiguous

Lines are compared with their whitespace normalised (runs of blanks are one
space, ends stripped), so indentation does not matter; the replacement lines
take the indentation of the first line they replace."""
import sys


def norm(s):
    return ' '.join(s.split())


def parse(path):
    muts, cur = [], None
    for raw in open(path, encoding='utf-8'):
        line = raw.rstrip('\n')
        if line.startswith('== '):
            ident, _, desc = line[3:].partition(':')
            cur = {'id': ident.strip(), 'desc': desc.strip(), 'file': None,
                   'old': [], 'new': [], 'equiv': None}
            muts.append(cur)
        elif cur is None or not line.strip() or line.startswith('#'):
            continue
        elif line.startswith('@ '):
            cur['file'] = line[2:].strip()
        elif line.startswith('-'):
            cur['old'].append(line[1:])
        elif line.startswith('+'):
            cur['new'].append(line[1:])
        elif line.startswith('! equivalent:'):
            cur['equiv'] = line[len('! equivalent:'):].strip()
        else:
            sys.exit('mutants: cannot parse: ' + line)
    for m in muts:
        if not m['file'] or not m['old']:
            sys.exit('mutants: %s has no file or no original' % m['id'])
    return muts


def main():
    muts = parse(sys.argv[2])
    if sys.argv[1] == 'list':
        for m in muts:
            kind = 'equivalent' if m['equiv'] else 'mutant'
            print('\t'.join([m['id'], kind, m['file'],
                             m['desc'] + (' [equivalent: %s]' % m['equiv']
                                          if m['equiv'] else '')]))
        return 0
    ident, root = sys.argv[3], sys.argv[4]
    m = next(x for x in muts if x['id'] == ident)
    path = root + '/' + m['file']
    try:
        lines = open(path, encoding='utf-8').read().split('\n')
    except OSError:
        return 3
    old = [norm(x) for x in m['old']]
    hits = [i for i in range(len(lines) - len(old) + 1)
            if all(norm(lines[i + k]) == old[k] for k in range(len(old)))]
    if not hits:
        return 3
    if len(hits) > 1:
        return 4
    i = hits[0]
    indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
    new = [indent + x.strip() for x in m['new']]
    lines[i:i + len(old)] = new
    open(path, 'w', encoding='utf-8').write('\n'.join(lines))
    return 0


sys.exit(main())
