#!/usr/bin/python3
"""Write the C of a guest drop-in library or of its host library.

usage: generate.py SPEC --side guest|host --arch ARCH --lib REAL_LIBRARY
                   --out FILE.c [--map FILE.map] [-I DIR]...

SPEC is the library's short file (thunks/libs/zlib.thunk).  The
generator reads the library's real headers with libclang and the real
library's exported functions and symbol versions with readelf:

- guest side: REAL_LIBRARY is the guest's own library (its arm64 or
  riscv64 libz.so.1).  The drop-in gets one stub per exported function,
  with the same symbol version, and a version script with the same
  version nodes.  The headers are parsed again for the guest's target,
  and every type a function passes must have the same layout there.
- host side: REAL_LIBRARY is the host's library; the host library gets
  one entry per exported function, `void entry(void *block, void *req)`.

What only a person can say comes from SPEC, one directive per line
(# starts a comment):

    library SONAME      the library's SONAME
    header FILE...      the headers that declare its functions
    define MACRO[=V]... macros to parse them with
    errno GLOB...       functions that set errno: carried back (errno
                        numbers are the same on every guest and host
                        served; ppc64le's one difference, EDEADLOCK, is
                        a number no x86_64 or aarch64 host returns)
    override NAME...    functions written by hand after "%% guest"
    guest GLOB...       functions kept in the guest, with the reason:
                        they jump to the guest's own library's, so no
                        header needs to declare them
    plainchar NAME...   functions whose plain char arguments pass as
                        their byte (say why that is right)
    data NAME...        constant data the library exports: the drop-in
                        carries a copy of the guest library's bytes
    version NAME        the library's version function (no arguments,
                        returns a string holding the version number, as
                        "5.4.1" or "expat_2.5.0"): the drop-in falls back
                        when the host's library is older than the guest's,
                        even if it has every function (its behaviour may
                        differ where the symbols do not)
    allocator RECORD ALLOC FREE [libc]
                        fields ALLOC and FREE of RECORD (its tag, or its
                        typedef's name if it has no tag) are an allocator
                        pair: ALLOC returns a block of the product of its
                        integer arguments, FREE frees its last pointer
                        argument.  On threads of the library's own, where
                        guest code cannot run, the host serves them (see
                        thunks/host.c).  "libc": the library serves a NULL
                        half with its own, which calls libc's malloc or
                        free.  The drop-in gets guest functions of the
                        halves' types that call the guest's (stand-ins):
                        a NULL half beside the guest's other half becomes
                        one, so that both halves use the guest's heap, and
                        where the library put its own in the record, the
                        guest sees the stand-ins, which it can call (see
                        thunks/host.h)

and after a line "%% guest", the C of the overrides.  Types that do not
pass blindly between guest and host stop the generator with a message
naming the function, unless SPEC overrides it or keeps it in the guest:
variadic functions, va_list, long double, plain char by value (its
signedness differs between ABIs), bit-fields in structures passed by
value.  Structures and unions passed by value are defined again in the
generated C, with static assertions of their layout on each side.

Callbacks.  Guest functions reach the library in its arguments, found
from their types: a function pointer; a structure passed by value that
holds one (as ZSTD_customMem: the host passes a copy holding closures);
a pointer to a structure that holds one, directly or through pointers
(as z_stream's zalloc and zfree, or lzma_stream's allocator): the host
swaps the guest's function pointers for closures during the call and
back after it, or, where the pointer is to const (lzma_allocator),
passes a copy of the structure that holds closures.  Every call that
passes a pointer runs on a host coroutine, which parks whenever the
guest must act: to run a callback, to take the fault of a bad pointer
itself, or the signal that interrupted a long call (see thunks/abi.h);
calls that pass only numbers are plain.
A callback given a pointer to a writable structure that holds function
pointers (expat's XML_Encoding) may fill them in: when it returns, the
host swaps the guest functions there for closures.
"""

import argparse
import fnmatch
import re
import subprocess
import sys

import clang.cindex as ci

TRIPLES = {
    'x86_64': 'x86_64-linux-gnu',
    'aarch64': 'aarch64-linux-gnu',
    'riscv64': 'riscv64-linux-gnu',
    'ppc64le': 'powerpc64le-linux-gnu',
}

K = ci.TypeKind
INTS = {
    K.BOOL: '_Bool', K.SCHAR: 'signed char', K.UCHAR: 'unsigned char',
    K.SHORT: 'short', K.USHORT: 'unsigned short', K.INT: 'int',
    K.UINT: 'unsigned int', K.LONG: 'long', K.ULONG: 'unsigned long',
    K.LONGLONG: 'long long', K.ULONGLONG: 'unsigned long long',
}
UNSIGNED = {K.BOOL, K.UCHAR, K.USHORT, K.UINT, K.ULONG, K.ULONGLONG}


class Stop(Exception):
    pass


def stop(msg):
    raise Stop(msg)


# The per-library file

class Spec:
    def __init__(self, path):
        self.path = path
        self.library = None
        self.headers, self.defines = [], []
        self.errno, self.override, self.guest = [], [], []
        self.plainchar, self.data = [], []
        self.version, self.allocators = None, []
        text = open(path).read()
        head, _, self.guest_c = text.partition('\n%% guest\n')
        lists = {'header': self.headers, 'define': self.defines,
                 'errno': self.errno, 'override': self.override,
                 'guest': self.guest, 'plainchar': self.plainchar,
                 'data': self.data}
        for n, line in enumerate(head.splitlines(), 1):
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            key, vals = words[0], words[1:]
            if key == 'library' and len(vals) == 1:
                self.library = vals[0]
            elif key == 'version' and len(vals) == 1:
                self.version = vals[0]
            elif (key == 'allocator' and len(vals) in (3, 4) and
                  vals[3:] in ([], ['libc'])):
                self.allocators.append(Allocator(*vals[:3], len(vals) == 4))
            elif key in lists and vals:
                lists[key].extend(vals)
            else:
                stop(f'line {n}: expected one of library, version, '
                     f'allocator, {", ".join(lists)} and its values')
        if not self.library or not self.headers:
            stop('needs a "library" and a "header" line')
        if self.override and not self.guest_c.strip():
            stop('overrides are listed but there is no "%% guest" part')

    def sets_errno(self, name):
        return any(fnmatch.fnmatchcase(name, g) for g in self.errno)

    def keeps(self, name):
        return any(fnmatch.fnmatchcase(name, g) for g in self.guest)

    def check_names(self, names, objects):
        for what in ('errno', 'override', 'guest', 'plainchar', 'data'):
            for glob in getattr(self, what):
                if not fnmatch.filter(objects if what == 'data' else names,
                                      glob):
                    stop(f'{what} {glob}: the library exports no such '
                         f'{"data" if what == "data" else "function"}')


# The real library, through readelf

def readelf(option, path):
    return subprocess.run(['readelf', '-W', option, path], check=True,
                          capture_output=True, text=True).stdout


class Library:
    """Exported functions and data (name, version, default?), and the
    version nodes."""

    def __init__(self, path):
        self.path = path
        m = re.search(r'\(SONAME\)\s+Library soname: \[(.*)\]',
                      readelf('-d', path))
        self.soname = m.group(1) if m else None
        self.nodes = []                 # [(name, [parents])], in order
        in_defs = False
        for line in readelf('-V', path).splitlines():
            if line.startswith('Version definition section'):
                in_defs = True
            elif line.startswith('Version needs section'):
                in_defs = False
            elif in_defs:
                m = re.search(r'Flags: (\S+)\s+Index: \d+\s+Cnt: \d+\s+'
                              r'Name: (\S+)', line)
                if m and m.group(1) != 'BASE':
                    self.nodes.append((m.group(2), []))
                m = re.search(r'Parent \d+: (\S+)', line)
                if m and self.nodes:
                    self.nodes[-1][1].append(m.group(1))
        nodes = {n for n, _ in self.nodes}
        self.functions, self.objects = [], []
        for line in readelf('--dyn-syms', path).splitlines():
            # Num: Value Size Type Bind Vis [other...] Ndx Name [(n)]
            m = re.match(r'\s*\d+: (\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s+'
                         r'(?:\[.*\]\s+)?(UND|ABS|COM|\d+)\s+(\S+)', line)
            if not m:
                continue
            value, size, kind, bind, ndx, sym = m.groups()
            if ndx == 'UND' or bind not in ('GLOBAL', 'WEAK'):
                continue
            name, _, version = sym.partition('@')
            default = not version or version.startswith('@')
            version = version.lstrip('@')
            if kind == 'OBJECT' and ndx == 'ABS' and name in nodes:
                continue                # a version node's own symbol
            if kind == 'OBJECT':
                self.objects.append((name, version, default,
                                     int(value, 16), int(size, 0)))
            elif kind in ('FUNC', 'IFUNC'):
                self.functions.append((name, version, default))
            else:
                stop(f'{path} exports {kind} {sym}: a drop-in can only '
                     f'stand in for functions and constant data')
        if not self.functions:
            stop(f'{path} exports no functions')
        self.functions.sort()
        self.objects.sort()

    def data(self, name, value, size):
        """The bytes of exported object name, from the file."""
        for line in readelf('-r', self.path).splitlines():
            m = re.match(r'([0-9a-f]+)\s+[0-9a-f]+\s+R_', line)
            if m and value <= int(m.group(1), 16) < value + size:
                stop(f'{self.path} exports {name}, which holds addresses: '
                     f'it cannot be copied')
        for line in readelf('-l', self.path).splitlines():
            f = line.split()
            if f[:1] == ['LOAD']:
                off, vaddr, filesz, memsz = (int(x, 16) for x in
                                             (f[1], f[2], f[4], f[5]))
                if vaddr <= value and value + size <= vaddr + memsz:
                    with open(self.path, 'rb') as elf:
                        elf.seek(off + value - vaddr)
                        got = elf.read(max(0, min(size, vaddr + filesz -
                                                  value)))
                    return got + bytes(size - len(got))
        stop(f'{name} is not in a loaded segment of {self.path}')


# The headers, through libclang

def parse(spec, includes, triple):
    args = ['-x', 'c', '-std=gnu11']
    args += ['-D' + d for d in spec.defines] + ['-I' + i for i in includes]
    if triple:
        args += ['-target', triple, '-nostdlibinc',
                 '-isystem', f'/usr/{triple}/include', '-isystem',
                 '/usr/include']
    src = ''.join(f'#include <{h}>\n' for h in spec.headers)
    tu = ci.Index.create().parse('thunk-headers.c', args=args,
                                 unsaved_files=[('thunk-headers.c', src)])
    errors = [str(d) for d in tu.diagnostics
              if d.severity >= ci.Diagnostic.Error]
    if errors:
        stop(f'the headers do not parse{" for " + triple if triple else ""}:'
             '\n  ' + '\n  '.join(errors))
    decls = {}
    for c in tu.cursor.get_children():
        if c.kind == ci.CursorKind.FUNCTION_DECL:
            decls.setdefault(c.spelling, c)
    return decls


def is_va_list(t):
    while t.kind in (K.TYPEDEF, K.ELABORATED):
        if t.kind == K.TYPEDEF and t.get_declaration().spelling in (
                'va_list', '__gnuc_va_list', '__builtin_va_list'):
            return True
        t = (t.get_declaration().underlying_typedef_type
             if t.kind == K.TYPEDEF else t.get_named_type())
    return False


class Type:
    """What the generator needs to know of a C type."""

    def __init__(self, kind, c, size=0, signed=False, to=None, rec=None,
                 sig=None):
        self.kind = kind        # void int char float ptr fn record va_list bad
        self.c = c              # spelling in generated code
        self.size, self.signed = size, signed
        self.to = to            # ptr: the pointee
        self.rec = rec          # record: its clang type
        self.sig = sig          # fn: (ret Type, [arg Type])

    @property
    def const(self):
        return self.c.startswith('const ')


def convert(t):
    if is_va_list(t):
        return Type('va_list', 'va_list', 8)
    t = t.get_canonical()
    k = t.kind
    const = 'const ' if t.is_const_qualified() else ''
    if k == K.VOID:
        return Type('void', const + 'void')
    if k in INTS:
        return Type('int', const + INTS[k], t.get_size(), k not in UNSIGNED)
    if k in (K.CHAR_S, K.CHAR_U):
        return Type('char', const + 'char', 1)
    if k == K.ENUM:
        base = convert(t.get_declaration().enum_type)
        return Type('int', const + base.c, base.size, base.signed)
    if k in (K.FLOAT, K.DOUBLE):
        return Type('float', const + t.spelling.replace('const ', ''),
                    t.get_size())
    if k == K.POINTER:
        p = t.get_pointee()
        pc = p.get_canonical()
        if pc.kind == K.FUNCTIONPROTO:
            if pc.is_function_variadic():
                return Type('bad', 'a variadic function pointer')
            sig = (convert(pc.get_result()),
                   [convert(a) for a in pc.argument_types()])
            return Type('fn', 'void *', 8, sig=sig)
        if pc.kind == K.FUNCTIONNOPROTO:
            return Type('bad', 'a function pointer without a prototype')
        to = convert(p)
        if to.kind in ('record', 'fn', 'va_list', 'bad'):
            spelt = ('const ' if pc.is_const_qualified() else '') + 'void *'
        else:
            spelt = decl(to.c, '*')
        return Type('ptr', spelt, 8, to=to)
    if k in (K.CONSTANTARRAY, K.INCOMPLETEARRAY):
        return convert(t.element_type)      # (as parameters only)
    if k == K.RECORD:
        kw = ('union' if t.get_declaration().kind == ci.CursorKind.UNION_DECL
              else 'struct')
        name = re.sub(r'\W+', '_', re.sub(r'\b(const|struct|union) ', '',
                                          t.spelling)).strip('_')
        return Type('record', f'{const}{kw} thunk_{name}',
                    max(t.get_size(), 0), rec=t)
    if k == K.LONGDOUBLE:
        return Type('bad', 'long double (80-bit on x86_64, 128-bit on '
                    'aarch64 and riscv64)')
    return Type('bad', f'{t.spelling} (a type the generator does not know)')


def by_value(t):
    """t as a parameter or result: a top-level const means nothing."""
    if t.kind != 'ptr' and t.const:
        t.c = t.c[len('const '):]
    return t


def fields(rec):
    """(name, byte offset, clang type) of a record's fields."""
    return [(f.spelling, rec.get_offset(f.spelling) // 8, f.type)
            for f in rec.get_fields()]


def elements(ft):
    """A field's type without its array dimensions: (type, count, dims)."""
    c, n, dims = ft.get_canonical(), 1, ''
    while c.kind == K.CONSTANTARRAY:
        n *= c.get_array_size()
        dims += f'[{c.get_array_size()}]'
        c = c.element_type.get_canonical()
    return c, n, dims


def shape(t, seen):
    """Everything about t that must be the same for guest and host."""
    c = t.get_canonical()
    if is_va_list(t):
        return ('va_list',)
    if c.kind == K.POINTER:
        p = c.get_pointee().get_canonical()
        if p.kind == K.FUNCTIONPROTO:
            return ('fn', shape(p.get_result(), seen),
                    tuple(shape(a, seen) for a in p.argument_types()))
        return ('ptr', shape(p, seen))
    if c.kind == K.RECORD:
        name = c.spelling.replace('const ', '')
        if name in seen or c.get_size() < 0:
            return ('record', name)
        seen = seen | {name}
        return ('record', name, c.get_size(), c.get_align(),
                tuple((n, o, shape(f, seen)) for n, o, f in fields(c)))
    if c.kind in (K.CHAR_S, K.CHAR_U):
        return ('char',)            # same bytes; by value it is refused
    if c.kind == K.ENUM:
        return ('int', c.get_size())
    if c.kind == K.CONSTANTARRAY:
        return ('array', c.get_array_size(), shape(c.element_type, seen))
    return (c.kind.name, c.get_size())


def fn_shape(decl):
    return (shape(decl.result_type, frozenset()),
            tuple(shape(a.type, frozenset()) for a in decl.get_arguments()),
            decl.type.is_function_variadic())


def has_fn(rec):
    """Does a record hold a function pointer (in itself, not through
    pointers)?"""
    for _, _, ft in fields(rec):
        t = convert(elements(ft)[0])
        if t.kind == 'fn' or (t.kind == 'record' and has_fn(t.rec)):
            return True
    return False


# The allocator pairs the library's file declares: record name -> Allocator.
ALLOCATORS = {}


class Allocator:
    def __init__(self, rec, alloc, free, libc):
        self.rec, self.alloc, self.free, self.libc = rec, alloc, free, libc
        self.used = False
        # With libc: the guest's stand-ins for its halves are numbers
        # standin and standin + 1 (see write_standins()); their types.
        self.standin, self.types = None, {}


def record_name(t):
    """A record's name without qualifiers: its tag, or its typedef's name
    when it has no tag."""
    return re.sub(r'\b(const|struct|union) ', '',
                  t.get_canonical().spelling).strip()


def roles(rec):
    """{field name: (role, partner field)} of an allocator pair record."""
    a = ALLOCATORS.get(record_name(rec))
    if not a:
        return {}
    a.used = True
    names = {n for n, _, _ in fields(rec)}
    for f in (a.alloc, a.free):
        if f not in names:
            stop(f'allocator {a.rec}: it has no field {f}')
    return {a.alloc: ('alloc', a.free, a),
            a.free: ('free', a.alloc, a)}


def material(rec, seen):
    """Where a record holds guest functions: [(kind, offset, what)] with
    kind 'fn' (what: the function's Type; an allocator's half has role,
    partner (its other half's offset from its own) and libc set), or
    'shadow' or 'deep' for a pointer to a const or a writable record
    that holds some (what: the record's Type and its own material).
    seen: the records above."""
    out = []
    pair = roles(rec)
    offsets = {n: o for n, o, _ in fields(rec)}
    for name, off, ft in fields(rec):
        c, n, _ = elements(ft)
        t = convert(c)
        sub = None
        if t.kind == 'ptr' and t.to.kind == 'record' and t.to.size > 0:
            if t.to.c.replace('const ', '') in seen:
                if has_fn(t.to.rec):
                    stop(f'{rec.spelling}.{name} leads back to '
                         f'{t.to.rec.spelling}, which holds function '
                         f'pointers: not handled')
            else:
                sub = material(t.to.rec,
                               seen | {t.to.c.replace('const ', '')})
        for i in range(n):
            o = off + i * c.get_size()
            if t.kind == 'fn':
                t.role, partner, a = pair.get(name, (None, name, None))
                t.partner = offsets[partner] - off
                t.libc = bool(a and a.libc)
                if t.libc:
                    a.types[t.role] = t
                    t.allocator = a
                    t.standin = a.standin + (t.role == 'free')
                out.append(('fn', o, t))
            elif name in pair:
                stop(f'allocator {record_name(rec)}: {name} is not a '
                     f'function pointer')
            elif t.kind == 'record':
                out += [(k, o + so, w) for k, so, w in material(t.rec, seen)]
            elif sub:
                out.append(('shadow' if t.to.const else 'deep', o,
                            (t.to, sub)))
    return out


def fn_types(mat):
    for kind, _, what in mat:
        if kind == 'fn':
            yield what
        else:
            yield from fn_types(what[1])


def decl(c, name):
    """Type c declaring name: "int x", "void *x"."""
    return c + name if c.endswith('*') or not name else f'{c} {name}'


def proto(ret, args, name='', variadic=False, named=False):
    """A C declarator: "int name(void *, int)", or with named=True
    "int name(void *a0, int a1)"."""
    params = [decl(a.c, f'a{i}' if named else '') for i, a in enumerate(args)]
    params += ['...'] if variadic else []
    return decl(ret.c, f'{name}({", ".join(params) or "void"})')


# One function of the library

class Function:
    def __init__(self, index, name, version, default, decl, spec):
        self.index, self.name, self.version = index, name, version
        self.default = default
        self.kept = spec.keeps(name)
        self.override = name in spec.override
        self.errno = spec.sets_errno(name) and not self.kept
        self.plainchar = spec.plainchar
        self.closures, self.swaps, self.shadows, self.copies = [], [], [], []
        if self.kept:
            self.ret, self.args, self.variadic, self.proto = None, [], 0, ''
            return
        self.ret = by_value(convert(decl.result_type))
        self.args = [by_value(convert(a.type)) for a in decl.get_arguments()]
        self.variadic = decl.type.is_function_variadic()
        self.proto = proto(self.ret, self.args, variadic=self.variadic)
        # Where its arguments hold guest functions (see material()):
        # closures: (arg, fn Type), a function pointer; swaps: (arg,
        # material), in *arg, swapped in place; shadows: (arg, record
        # Type, material), in const *arg, of which the host passes a
        # copy; copies: (arg, material), in a record passed by value.
        if not self.override:
            self.check()

    def check(self):
        why = 'is variadic' if self.variadic else None
        for i, a in enumerate([self.ret] + self.args):
            what = 'returns' if i == 0 else f'takes as argument {i}'
            j = i - 1
            if a.kind == 'bad':
                why = f'{what} {a.c}'
            elif a.kind == 'va_list':
                why = f'{what} a va_list (it differs between ABIs)'
            elif a.kind == 'char' and self.name not in self.plainchar:
                why = (f'{what} a plain char by value (signed on x86_64, '
                       f'unsigned on aarch64, riscv64, ppc64le)')
            elif a.kind == 'fn' and i:
                self.closures.append((j, a))
            elif a.kind == 'record':
                mat = material(a.rec, {a.c.replace('const ', '')})
                if mat and not i:
                    why = f'returns {a.rec.spelling}, which holds callbacks'
                elif mat:
                    self.copies.append((j, mat))
            elif (a.kind == 'ptr' and a.to.kind == 'record' and
                  a.to.size > 0 and i):
                mat = material(a.to.rec, {a.to.c.replace('const ', '')})
                if mat and a.to.const:
                    self.shadows.append((j, a.to, mat))
                elif mat:
                    self.swaps.append((j, mat))
        for sig in self.fn_types():
            for t in [sig.sig[0]] + sig.sig[1]:
                if t.kind not in ('void', 'int', 'ptr', 'fn', 'float'):
                    why = f'has a callback passing {t.c}'
        if why:
            stop(f'{self.name} {why}: say in the library\'s file whether it '
                 f'is kept in the guest or written by hand')

    def fn_types(self):
        yield from (t for _, t in self.closures)
        for mat in ([m for _, m in self.swaps + self.copies] +
                    [m for _, _, m in self.shadows]):
            yield from fn_types(mat)

    @property
    def hosted(self):
        return not (self.kept or self.override)

    @property
    def cname(self):
        """The C name of its stub (a non-default version's own name)."""
        return self.name if self.default else f'thunk_v{self.index}'

    def block(self):
        """The argument block's fields."""
        out = [decl(a.c, f'a{i}') for i, a in enumerate(self.args)]
        if self.errno:
            out.append('int err')
        if self.ret.kind != 'void':
            out.append(decl(self.ret.c, 'r'))
        return out

    def where(self):
        return f'{self.name}{"@" if self.version else ""}{self.version}'


def outs(sig):
    """A callback's out-parameters: [(argument, material)] for each
    pointer to a writable record that holds function pointers, which
    the guest's callback may fill in (expat's XML_Encoding)."""
    out = []
    for j, a in enumerate(sig[1]):
        if (a.kind == 'ptr' and a.to.kind == 'record' and a.to.size > 0 and
                not a.to.const):
            mat = material(a.to.rec, {a.to.c})
            if mat:
                out.append((j, mat))
    return out


def sig_key(sig):
    """A callback signature, spelt, with the structures it fills in."""
    fills = [sig[1][j].to.c for j, _ in outs(sig)]
    return proto(*sig) + ''.join(f', filling {c}' for c in fills)


def signatures(functions):
    """Every callback signature, spelt, in a fixed order: those of the
    functions the library is given, and of those their callbacks give
    it back."""
    sigs = {}
    todo = [t.sig for f in functions for t in f.fn_types()]
    while todo:
        sig = todo.pop()
        if sig_key(sig) not in sigs:
            sigs[sig_key(sig)] = sig
            todo += [t.sig for _, mat in outs(sig) for t in fn_types(mat)]
    return sorted(sigs.items())


def load(spec, lib_path, includes, arch, side):
    lib = Library(lib_path)
    if lib.soname != spec.library:
        stop(f'{lib_path} has SONAME {lib.soname}, not {spec.library}')
    spec.check_names([n for n, _, _ in lib.functions],
                     [o[0] for o in lib.objects])
    ALLOCATORS.clear()
    ALLOCATORS.update((a.rec, a) for a in spec.allocators)
    for k, a in enumerate(a for a in spec.allocators if a.libc):
        a.standin = 2 * k
    for name, version, default, _, _ in lib.objects:
        if name not in spec.data or not default:
            stop(f'{lib_path} exports data {name}: if it is constant, say '
                 f'"data {name}" in the library\'s file')
    host_decls = parse(spec, includes, None)
    guest_decls = None
    host_arch = subprocess.run(['uname', '-m'], capture_output=True,
                               text=True).stdout.strip()
    if side == 'guest' and arch != host_arch:
        guest_decls = parse(spec, includes, TRIPLES[arch])
    functions = []
    for name, version, default in lib.functions:
        d = host_decls.get(name)
        if d is None and not spec.keeps(name):
            stop(f'{lib_path} exports {name}, which the headers do not '
                 f'declare: say in the library\'s file that it is kept in '
                 f'the guest')
        if guest_decls is not None and not spec.keeps(name):
            gd = guest_decls.get(name)
            if gd is None or fn_shape(gd) != fn_shape(d):
                stop(f'{name} passes types whose layout differs between '
                     f'the host and {arch}')
        functions.append(Function(len(functions), name, version, default,
                                  d, spec))
    # Kept and hand-written functions after the hosted ones.
    functions.sort(key=lambda f: (not f.hosted, f.name, f.version))
    for i, f in enumerate(functions):
        f.index = i
    # A call that passes a pointer may fault on it, call back or run for
    # long: it runs on a coroutine, which can park (see thunks/host.c).
    for f in functions:
        f.coroutine = f.hosted and any(a.kind in ('ptr', 'fn', 'record')
                                       for a in f.args)
    for spelt, (ret, args) in signatures(functions):
        for t in [ret] + args:
            if t.kind not in ('void', 'int', 'ptr', 'fn', 'float'):
                stop(f'a callback {spelt} passes {t.c}: not handled')
    for a in spec.allocators:
        if not a.used:
            stop(f'allocator {a.rec}: no function passes such a record '
                 f'(a record\'s name is its tag, or its typedef\'s name if '
                 f'it has no tag)')
    if spec.version:
        v = [f for f in functions if f.name == spec.version and f.default]
        if not v or not v[0].hosted or v[0].args or not (
                v[0].ret.kind == 'ptr' and v[0].ret.to.kind == 'char'):
            stop(f'version {spec.version}: not a function on the host that '
                 f'takes no arguments and returns a string')
        spec.version_index = v[0].index
    return lib, functions


def define_records(functions, w):
    """C definitions of the records passed by value (nested ones first),
    with static assertions of the layout clang computed for the host:
    each side's compiler checks its own ABI against it."""
    done = set()

    def define(t):
        name = t.c.replace('const ', '')
        if name in done:
            return
        done.add(name)
        lines, checks = [], [f'sizeof({name}) == {t.size}',
                             f'_Alignof({name}) == {t.rec.get_align()}']
        for f in t.rec.get_fields():
            if f.is_bitfield() or not f.spelling:
                stop(f'{t.rec.spelling} is passed by value and has a '
                     f'bit-field or an unnamed member: not handled')
            c, _, dims = elements(f.type)
            ft = convert(c)
            if ft.kind in ('bad', 'va_list'):
                stop(f'{t.rec.spelling} is passed by value and has a field '
                     f'{f.spelling} of type {ft.c}')
            if ft.kind == 'record':
                define(ft)
            lines.append(f'    {decl(ft.c, f.spelling + dims)};\n')
            checks.append(f'__builtin_offsetof({name}, {f.spelling}) == '
                          f'{t.rec.get_offset(f.spelling) // 8}')
        w(f'\n/* {t.rec.spelling} */\n{name} {{\n{"".join(lines)}}};\n')
        w(''.join(f'_Static_assert({c}, "layout of {name}");\n'
                  for c in checks))

    for f in functions:
        for t in ([f.ret] + f.args if not f.kept else []):
            if t.kind == 'record':
                define(t)


def write_block(f, w):
    if f.block():
        w(f'struct thunk_b{f.index} {{\n')
        w(''.join(f'    {d};\n' for d in f.block()))
        w('};\n\n')


# Writing the guest side

def write_guest(spec, lib, functions, out, name):
    sigs = signatures(functions)
    hosted = sum(f.hosted for f in functions)
    n = len(functions)
    w = out.write
    w(f'/* Generated by thunks/generate.py from {spec.path} and the '
      f'guest\'s {lib.soname}: do not edit. */\n')
    w('#include <stdlib.h>\n\n#include "guest.h"\n')
    define_records(functions, w)
    for oname, _, _, value, size in lib.objects:
        data = lib.data(oname, value, size)
        w(f'\n/* {oname}: a copy of the guest library\'s */\n'
          f'THUNK_EXPORT const unsigned char {oname}[{size}] '
          f'__attribute__((aligned(16))) = {{')
        w(','.join(('\n    ' if k % 16 == 0 else ' ') + str(b)
                   for k, b in enumerate(data)) + '\n};\n')
    w(f'\nstatic void *thunk_entry[{n}];\n'
      f'static void *thunk_realfn[{n}] __attribute__((used));\n\n')
    for f in functions:
        if f.default and not f.kept:
            w(f'enum {{ THUNK_I_{f.name} = {f.index} }};\n')
            t = proto(f.ret, f.args, 'thunk_t_' + f.name, f.variadic)
            w(f'typedef {t};\n')
    for what, vals in (('names', [f.name for f in functions]),
                       ('versions', [f.version for f in functions]),
                       ('protos', [f.proto for f in functions])):
        w(f'\nstatic const char *const thunk_{what}[] = {{\n')
        w(''.join(f'    "{v}",\n' for v in vals))
        w('};\n')
    standins = write_standins(functions, w)
    w('\nstatic struct thunk_lib thunk_lib = {\n')
    w(f'    .soname = "{lib.soname}", .name = "{name}",\n')
    w(f'    .count = {n}, .hosted = {hosted}, '
      f'.kept = {sum(f.kept for f in functions)}, .sigs = {len(sigs)},\n')
    w('    .names = thunk_names, .versions = thunk_versions,\n')
    w('    .protos = thunk_protos,\n')
    w(f'    .sig_digest = "{";".join(s for s, _ in sigs)}",\n')
    if spec.version:
        w(f'    .version = {spec.version_index} + 1,\n')
    if standins:
        w(f'    .nstandins = {len(standins)}, .standins = thunk_standins,\n')
    w('    .entry = thunk_entry, .real = thunk_realfn,\n};\n')
    if any(f.coroutine for f in functions):
        write_callbacks(sigs, w)
    for f in functions:
        if f.kept:
            w(f'\n/* {f.where()}: kept in the guest */\n'
              f'THUNK_FORWARD("{f.cname}", {f.index});\n')
        elif not f.override:
            write_stub(f, w)
        if not f.default:
            w(f'__asm__(".symver {f.cname}, {f.name}@{f.version}");\n')
    if spec.guest_c.strip():
        w(f'\n/* Written by hand in {spec.path} */\n')
        for f in functions:
            if f.override:
                t = proto(f.ret, f.args, f.cname, f.variadic)
                w(f'THUNK_EXPORT {t};\n')
        w(spec.guest_c)
    w('\n__attribute__((constructor)) static void thunk_init(void)\n{\n'
      '    thunk_start(&thunk_lib);\n}\n')
    w('\n__attribute__((destructor)) static void thunk_fini(void)\n{\n'
      '    thunk_stop(&thunk_lib);\n}\n')


def write_callbacks(sigs, w):
    """Do what a parked host call asks for, until it is done: run a
    callback (one case per signature, so that the guest function is the
    only indirect call: each costs QEMU a lookup), or take its fault."""
    w('\n__attribute__((noinline))\n'
      'static void thunk_callbacks(struct thunk_req *q)\n{\n'
      '    do {\n')
    if sigs:
        w('        void **a = q->args;\n\n'
          '        switch (q->state == THUNK_CALLBACK ? (int)q->sig : -1) {\n')
        for i, (s, (ret, args)) in enumerate(sigs):
            call = ', '.join(f'*({decl(a.c, "*")})a[{j}]'
                             for j, a in enumerate(args))
            call = f'(({proto(ret, args, "(*)")})q->fn)({call})'
            if ret.kind != 'void':
                call = f'*({decl(ret.c, "*")})q->ret = {call}'
            w(f'        case {i}: /* {s} */\n            {call};\n'
              f'            break;\n')
        w('        default:\n            thunk_signal(&thunk_lib, q);\n'
          '        }\n')
    else:
        w('        thunk_signal(&thunk_lib, q);\n')
    w('        dlcall_invoke_proc(thunk_lib.resume, q, 0);\n'
      '    } while (q->state != THUNK_DONE);\n}\n')


def write_standins(functions, w):
    """The guest's own allocator halves for those the library serves with
    libc's (see thunks/host.h): as the library's own do, they call the
    guest's malloc with the product of their integer arguments, and its
    free with their last pointer argument.  Returns their names."""
    names = []
    for a in sorted({t.allocator for f in functions for t in f.fn_types()
                     if getattr(t, 'libc', False)},
                    key=lambda a: a.standin):
        for role in ('alloc', 'free'):
            t = a.types.get(role)
            ret, args = t.sig
            name = f'thunk_standin{a.standin + (role == "free")}'
            ints = [f'a{j}' for j, x in enumerate(args) if x.kind == 'int']
            ptrs = [f'a{j}' for j, x in enumerate(args) if x.kind == 'ptr']
            if role == 'alloc' and ret.kind == 'ptr' and ints:
                body = ('    size_t n = 1;\n\n' + ''.join(
                    f'    if (__builtin_mul_overflow(n, {x}, &n)) {{\n'
                    f'        return NULL;\n    }}\n' for x in ints) +
                    '    return malloc(n);\n')
            elif role == 'free' and ret.kind == 'void' and ptrs:
                body = f'    free({ptrs[-1]});\n'
            else:
                stop(f'allocator {a.rec}: its {role} half, {proto(ret, args)}'
                     f', is not one libc\'s {"malloc" if role == "alloc" else "free"}'
                     f' can stand for')
            w(f'\nstatic {proto(ret, args, name, named=True)}\n{{\n{body}}}\n')
            names.append(name)
    if names:
        w('\nstatic void *const thunk_standins[] = {\n' +
          ''.join(f'    (void *){n},\n' for n in names) + '};\n')
    return names


def write_stub(f, w):
    """One INVOKE_PROC on the host path; the guest's own function in
    fallback (and the first call may have to choose)."""
    i = f.index
    args = ', '.join(f'a{j}' for j in range(len(f.args)))
    w(f'\n/* {f.where()} */\n')
    write_block(f, w)
    w(f'THUNK_EXPORT {proto(f.ret, f.args, f.cname, named=True)}\n{{\n')
    if f.block():
        w(f'    struct thunk_b{i} b;\n')
    if f.coroutine:
        w('    struct thunk_req q;\n')
    w('    void *e;\n\n')
    real = f'((thunk_t_{f.name} *)thunk_realfn[{i}])({args})'
    if not f.default:
        real = f'(({proto(f.ret, f.args, "(*)")})thunk_realfn[{i}])({args})'
    w('    for (;;) {\n')
    w(f'        if (THUNK_LIKELY(e = thunk_entry[{i}])) {{\n')
    w('            break;\n        }\n')
    w(f'        if (thunk_realfn[{i}]) {{\n')
    if f.ret.kind == 'void':
        w(f'            {real};\n            return;\n        }}\n')
    else:
        w(f'            return {real};\n        }}\n')
    w(f'        thunk_need(&thunk_lib, {i});\n    }}\n')
    for j in range(len(f.args)):
        w(f'    b.a{j} = a{j};\n')
    if f.errno:
        w('    b.err = errno;\n')
    blk = '&b' if f.block() else '0'
    if f.coroutine:
        w(f'    dlcall_invoke_proc(e, {blk}, &q);\n')
        w('    if (THUNK_UNLIKELY(q.state != THUNK_DONE)) {\n'
          '        thunk_callbacks(&q);\n    }\n')
    else:
        w(f'    dlcall_invoke_proc(e, {blk}, 0);\n')
    if f.errno:
        w('    errno = b.err;\n')
    if f.ret.kind != 'void':
        w('    return b.r;\n')
    w('}\n')


def write_map(lib, functions, out):
    """The version script: the real library's nodes and default versions."""
    w = out.write
    if not lib.nodes:
        w('{\n  global: *;\n};\n')
        return
    hidden = [f.cname for f in functions if not f.default]
    for k, (node, parents) in enumerate(lib.nodes):
        names = sorted([f.name for f in functions
                        if f.version == node and f.default] +
                       [o[0] for o in lib.objects if o[1] == node])
        w(f'{node} {{\n')
        if names:
            w('  global:\n' + ''.join(f'    {n};\n' for n in names))
        if k == 0 and hidden:
            w('  local:\n' + ''.join(f'    {n};\n' for n in hidden))
        w(f'}}{" " + " ".join(parents) if parents else ""};\n\n')


# Writing the host side

FFI = {(1, True): 'sint8', (1, False): 'uint8', (2, True): 'sint16',
       (2, False): 'uint16', (4, True): 'sint32', (4, False): 'uint32',
       (8, True): 'sint64', (8, False): 'uint64'}


def ffi_type(t):
    if t.kind == 'void':
        return '&ffi_type_void'
    if t.kind in ('ptr', 'fn'):
        return '&ffi_type_pointer'
    if t.kind == 'float':
        return '&ffi_type_' + ('float' if t.size == 4 else 'double')
    if t.kind == 'int' and (t.size, t.signed) in FFI:
        return '&ffi_type_' + FFI[(t.size, t.signed)]
    stop(f'a callback passes {t.c}, which libffi cannot describe here')


class Tables:
    """The host's tables of where records hold guest functions
    (struct thunk_field), one per distinct material list."""

    KINDS = {'fn': 'THUNK_FN', 'shadow': 'THUNK_SHADOW', 'deep': 'THUNK_DEEP'}

    def __init__(self, sig_index, w):
        self.sig_index, self.w, self.names = sig_index, w, {}

    def __call__(self, mat):
        rows = []
        for kind, off, what in mat:
            if kind == 'fn':
                sig = self.sig_index[sig_key(what.sig)]
                role = {None: '0', 'alloc': 'THUNK_ALLOC',
                        'free': 'THUNK_FREE'}[what.role]
                if what.role and what.libc:
                    role += ' | THUNK_LIBC'
                standin = what.standin if what.libc else -1
                rows.append(f'{{ THUNK_FN, {off}, {sig}, 0, 0, {role}, '
                            f'{what.partner}, {standin} }}')
            else:
                sub = self(what[1])
                rows.append(f'{{ {self.KINDS[kind]}, {off}, 0, '
                            f'{what[0].size}, {sub} }}')
        key = tuple(rows)
        if key not in self.names:
            self.names[key] = f'thunk_fields{len(self.names)}'
            self.w(f'\nstatic const struct thunk_field {self.names[key]}[] '
                   f'= {{\n' + ''.join(f'    {r},\n' for r in rows) +
                   '    { THUNK_END },\n};\n')
        return self.names[key]


def write_host(spec, lib, functions, out):
    sigs = signatures(functions)
    hosted = [f for f in functions if f.hosted]
    w = out.write
    w(f'/* Generated by thunks/generate.py from {spec.path} and the '
      f'host\'s {lib.soname}: do not edit. */\n')
    w('#include "host.h"\n')
    define_records(hosted, w)
    tables = Tables({s: i for i, (s, _) in enumerate(sigs)}, w)
    for f in hosted:
        write_entry(f, w, tables)
    w('\nstatic const struct thunk_host_fn thunk_fns[] = {\n')
    for f in hosted:
        w(f'    {{ "{f.name}", "{f.version}", "{f.proto}",\n'
          f'      thunk_entry{f.index}, (void **)&thunk_real{f.index} }},\n')
    w('};\n')
    if sigs:
        out_tables = [[(j, tables(mat)) for j, mat in outs(sig)]
                      for _, sig in sigs]
        w('\nstatic const struct thunk_sig thunk_sigs[] = {\n')
        for (s, (ret, args)), out in zip(sigs, out_tables):
            w(f'    /* {s} */\n')
            types = ', '.join(ffi_type(a) for a in args)
            fill = dict(out)
            out = ', '.join(fill.get(j, '0') for j in range(len(args)))
            out = (f'(const struct thunk_field *const []){{ {out} }}'
                   if fill else '0')
            w(f'    {{ {ffi_type(ret)}, {len(args)}, '
              f'(ffi_type *[]){{ {types or "0"} }}, {out} }},\n')
        w('};\n')
    w('\nconst struct thunk_host_lib thunk_host_lib = {\n')
    w(f'    "{lib.soname}", thunk_fns, {len(hosted)},\n')
    w(f'    {"thunk_sigs" if sigs else "0"}, {len(sigs)},\n')
    w(f'    "{";".join(s for s, _ in sigs)}",\n')
    w(f'    {2 * sum(a.libc for a in spec.allocators)},\n}};\n')


def write_entry(f, w, tables):
    """The host entry: unpack the block, put closures where the guest
    passed functions, call, store the result (and errno)."""
    i = f.index
    args = [f'b->a{j}' for j in range(len(f.args))]
    body = [f'struct thunk_b{i} *b = block;'] if f.block() else []
    before, after = [], []
    for j, t in f.closures:
        args[j] = f'thunk_closure(b->a{j}, {tables.sig_index[sig_key(t.sig)]})'
    for j, rec, mat in f.shadows:
        args[j] = f'thunk_shadow(b->a{j}, {rec.size}, {tables(mat)})'
    for j, mat in f.copies:
        body.append(f'{decl(f.args[j].c.replace("const ", ""), f"a{j}")} = '
                    f'b->a{j};')
        before.append(f'thunk_swap_in(&a{j}, {tables(mat)});')
        args[j] = f'a{j}'
    for j, mat in f.swaps:
        before.append(f'thunk_swap_in(b->a{j}, {tables(mat)});')
        after.append(f'thunk_swap_out(b->a{j}, {tables(mat)});')
    call = f'thunk_real{i}({", ".join(args)});'
    if f.ret.kind != 'void':
        call = 'b->r = ' + call
    if f.errno:
        before.append('errno = b->err;')
        after.append('b->err = errno;')
    body += [''] if body else []
    code = ''.join(f'    {line}\n' if line else '\n'
                   for line in body + before + [call] + after)
    w(f'\n/* {f.where()} */\n')
    write_block(f, w)
    w(f'static {proto(f.ret, f.args, f"(*thunk_real{i})")};\n\n')
    if f.coroutine:
        w(f'static void thunk_run{i}(void *block)\n{{\n{code}}}\n\n')
        w(f'static void thunk_entry{i}(void *block, void *req)\n{{\n'
          f'    thunk_count();\n'
          f'    thunk_run(thunk_run{i}, block, req);\n}}\n')
    else:
        w(f'static void thunk_entry{i}(void *block, void *req)\n{{\n'
          f'{code}    thunk_count();\n}}\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('spec')
    ap.add_argument('--side', choices=('guest', 'host'), required=True)
    ap.add_argument('--arch', choices=sorted(TRIPLES), required=True)
    ap.add_argument('--lib', required=True, help='the real library')
    ap.add_argument('--out', required=True)
    ap.add_argument('--map', help='guest side: the version script')
    ap.add_argument('-I', dest='includes', action='append', default=[])
    opt = ap.parse_args()
    ci.Config.set_library_file('libclang-14.so.1')
    name = opt.spec.rsplit('/', 1)[-1].rsplit('.', 1)[0]
    try:
        spec = Spec(opt.spec)
        lib, functions = load(spec, opt.lib, opt.includes, opt.arch,
                              opt.side)
        with open(opt.out, 'w') as out:
            if opt.side == 'guest':
                write_guest(spec, lib, functions, out, name)
            else:
                write_host(spec, lib, functions, out)
        if opt.map:
            with open(opt.map, 'w') as out:
                write_map(lib, functions, out)
    except Stop as e:
        sys.exit(f'generate.py: {opt.spec}: {e}')
    hosted = [f for f in functions if f.hosted]
    print(f'  GEN     {opt.out}: {len(functions)} functions, {len(hosted)} '
          f'on the host ({sum(f.coroutine for f in hosted)} on a coroutine),'
          f' {sum(f.kept for f in functions)} kept in the guest, '
          f'{sum(f.override for f in functions)} by hand')


if __name__ == '__main__':
    main()
