/* The pickle virtual machine (see pickle.h): stack, mark stack and memo, one opcode at a time.
 *
 * Accepted opcodes are those torch.save emits at protocol 2 plus the protocol 3-5 opcodes a
 * state dict may contain (CPython pickletools names); everything else, including the text-mode
 * protocol 0/1 opcodes and INST/OBJ/EXT*, is rejected with its byte and file offset. NEWOBJ and
 * NEWOBJ_EX are accepted as inert objects: training checkpoints use them for plain metadata
 * objects (argparse.Namespace and the like), and nothing is constructed.
 *
 * Resource bounds: every value, stack slot and container item is created by one opcode, so
 * memory is linear in the pickle length; memo indices are capped at the pickle length + 256
 * (a pickler numbers its memo from 0, so a larger index cannot come from a real writer). */
#include "runtime/io/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/pickle_torch.h"

enum { CHUNK_VALUES = 256 };

struct wr_pkl_chunk {
    wr_pkl_chunk *next;
    int n;
    wr_pkl_value v[CHUNK_VALUES];
};

/* ---------------------------------------------------------------------------------------- */
/* Opcode names (CPython pickletools), for error messages */

static const char *op_name(uint8_t op)
{
    static const struct {
        uint8_t op;
        const char *name;
    } names[] = {
        {'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"},
        {'F', "FLOAT"}, {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'L', "LONG"},
        {'M', "BININT2"}, {'N', "NONE"}, {'P', "PERSID"}, {'Q', "BINPERSID"}, {'R', "REDUCE"},
        {'S', "STRING"}, {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"},
        {'X', "BINUNICODE"}, {'a', "APPEND"}, {'b', "BUILD"}, {'c', "GLOBAL"}, {'d', "DICT"},
        {'}', "EMPTY_DICT"}, {'e', "APPENDS"}, {'g', "GET"}, {'h', "BINGET"}, {'i', "INST"},
        {'j', "LONG_BINGET"}, {'l', "LIST"}, {']', "EMPTY_LIST"}, {'o', "OBJ"}, {'p', "PUT"},
        {'q', "BINPUT"}, {'r', "LONG_BINPUT"}, {'s', "SETITEM"}, {'t', "TUPLE"},
        {')', "EMPTY_TUPLE"}, {'u', "SETITEMS"}, {'G', "BINFLOAT"}, {0x80, "PROTO"},
        {0x81, "NEWOBJ"}, {0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"}, {0x85, "TUPLE1"},
        {0x86, "TUPLE2"}, {0x87, "TUPLE3"}, {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"},
        {0x8a, "LONG1"}, {0x8b, "LONG4"}, {'B', "BINBYTES"}, {'C', "SHORT_BINBYTES"},
        {0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"}, {0x8e, "BINBYTES8"},
        {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x92, "NEWOBJ_EX"},
        {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"}, {0x95, "FRAME"}, {0x96, "BYTEARRAY8"},
        {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].op == op)
            return names[i].name;
    return "not a pickle opcode";
}

/* ---------------------------------------------------------------------------------------- */
/* Machine state and errors */

typedef struct vm {
    wr_pkl *arena;
    const char *path, *what;
    const uint8_t *d;
    size_t len, pos, op_pos;
    uint64_t base; /* file offset of d[0] */
    uint8_t op;
    wr_pkl_value **stack;
    size_t n, cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    wr_pkl_value **memo; /* NULL = never set */
    size_t memo_len, memo_count, memo_limit;
} vm;

__attribute__((format(printf, 3, 4))) static wr_status fail(vm *s, wr_status st, const char *fmt,
                                                              ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return wr_fail(st, "%s: %s: opcode 0x%02x (%s) at file offset %llu: %s", s->path, s->what,
                   s->op, op_name(s->op), (unsigned long long)(s->base + s->op_pos), msg);
}

static wr_status oom(vm *s) { return fail(s, WR_E_OOM, "out of memory"); }

static wr_pkl_value *new_value(vm *s, wr_pkl_kind kind)
{
    wr_pkl_chunk *c = s->arena->chunks;
    if (!c || c->n == CHUNK_VALUES) {
        c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        c->next = s->arena->chunks;
        s->arena->chunks = c;
    }
    wr_pkl_value *v = &c->v[c->n++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    return v;
}

static bool grow(void **items, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return true;
    size_t want = *cap ? *cap * 2 : 8;
    void *p = realloc(*items, want * elem);
    if (!p)
        return false;
    *items = p;
    *cap = want;
    return true;
}

static bool seq_push(wr_pkl_value *c, wr_pkl_value *item)
{
    size_t cap = (size_t)c->u.seq.cap;
    if (!grow((void **)&c->u.seq.items, (size_t)c->u.seq.n, &cap, sizeof *c->u.seq.items))
        return false;
    c->u.seq.cap = (int64_t)cap;
    c->u.seq.items[c->u.seq.n++] = item;
    return true;
}

static wr_status push(vm *s, wr_pkl_value *v)
{
    if (!v || !grow((void **)&s->stack, s->n, &s->cap, sizeof *s->stack))
        return oom(s);
    s->stack[s->n++] = v;
    return WR_OK;
}

static size_t mark_top(const vm *s) { return s->n_marks ? s->marks[s->n_marks - 1] : 0; }

/* Values above the innermost mark are the only ones an opcode may consume (Python keeps the
 * rest on its metastack). */
static wr_status need_items(vm *s, size_t k)
{
    if (s->n - mark_top(s) < k)
        return fail(s, WR_E_FORMAT, "needs %zu stack item(s), %zu available", k,
                    s->n - mark_top(s));
    return WR_OK;
}

static wr_status pop(vm *s, wr_pkl_value **out)
{
    WR_TRY(need_items(s, 1));
    *out = s->stack[--s->n];
    return WR_OK;
}

/* Pops the innermost mark; *from receives the stack height it recorded. */
static wr_status pop_mark(vm *s, size_t *from)
{
    if (!s->n_marks)
        return fail(s, WR_E_FORMAT, "no MARK on the mark stack");
    *from = s->marks[--s->n_marks];
    return WR_OK;
}

static wr_status need_bytes(vm *s, uint64_t k)
{
    if (s->len - s->pos < k)
        return fail(s, WR_E_FORMAT, "truncated pickle: argument of %llu bytes, %zu left",
                    (unsigned long long)k, s->len - s->pos);
    return WR_OK;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static wr_status arg_le(vm *s, int n, uint64_t *out)
{
    WR_TRY(need_bytes(s, (uint64_t)n));
    *out = rd_le(s->d + s->pos, n);
    s->pos += (size_t)n;
    return WR_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Opcode groups */

static wr_status op_string(vm *s, int len_bytes, wr_pkl_kind kind)
{
    uint64_t n;
    WR_TRY(arg_le(s, len_bytes, &n));
    if (s->op == 'T' && n > INT32_MAX)
        return fail(s, WR_E_FORMAT, "negative string length");
    WR_TRY(need_bytes(s, n));
    wr_pkl_value *v = new_value(s, kind);
    if (!v)
        return oom(s);
    v->u.str = (wr_pkl_str){(const char *)s->d + s->pos, (size_t)n};
    s->pos += (size_t)n;
    return push(s, v);
}

static wr_status op_long(vm *s, int len_bytes)
{
    uint64_t n;
    WR_TRY(arg_le(s, len_bytes, &n));
    if (len_bytes == 4 && n > INT32_MAX)
        return fail(s, WR_E_FORMAT, "negative LONG4 length");
    WR_TRY(need_bytes(s, n));
    const uint8_t *p = s->d + s->pos;
    s->pos += (size_t)n;
    wr_pkl_value *v = new_value(s, n <= 8 ? WR_PKL_INT : WR_PKL_BIGINT);
    if (!v)
        return oom(s);
    if (n > 8) {
        v->u.str = (wr_pkl_str){(const char *)p, (size_t)n};
    } else if (n > 0) {
        uint64_t u = rd_le(p, (int)n);
        if (n < 8 && (p[n - 1] & 0x80)) /* sign-extend two's complement */
            u |= ~(uint64_t)0 << (8 * n);
        v->u.i = (int64_t)u;
    }
    return push(s, v);
}

static wr_status op_int(vm *s, int len_bytes)
{
    uint64_t u;
    WR_TRY(arg_le(s, len_bytes, &u));
    wr_pkl_value *v = new_value(s, WR_PKL_INT);
    if (!v)
        return oom(s);
    v->u.i = len_bytes == 4 ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
    return push(s, v);
}

static wr_status op_binfloat(vm *s)
{
    WR_TRY(need_bytes(s, 8));
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) /* big-endian */
        u = u << 8 | s->d[s->pos + (size_t)i];
    s->pos += 8;
    wr_pkl_value *v = new_value(s, WR_PKL_FLOAT);
    if (!v)
        return oom(s);
    memcpy(&v->u.f, &u, sizeof u);
    return push(s, v);
}

/* GLOBAL: "module\nname\n". */
static wr_status read_line(vm *s, wr_pkl_str *out)
{
    const uint8_t *start = s->d + s->pos;
    const uint8_t *nl = memchr(start, '\n', s->len - s->pos);
    if (!nl)
        return fail(s, WR_E_FORMAT, "truncated pickle: GLOBAL line without a newline");
    *out = (wr_pkl_str){(const char *)start, (size_t)(nl - start)};
    s->pos += (size_t)(nl - start) + 1;
    return WR_OK;
}

static wr_status op_global(vm *s, bool from_stack)
{
    wr_pkl_value *v = new_value(s, WR_PKL_GLOBAL);
    if (!v)
        return oom(s);
    if (from_stack) {
        wr_pkl_value *name, *module;
        WR_TRY(pop(s, &name));
        WR_TRY(pop(s, &module));
        if (name->kind != WR_PKL_STR || module->kind != WR_PKL_STR)
            return fail(s, WR_E_FORMAT, "module and name are not strings");
        v->u.global.module = module->u.str;
        v->u.global.name = name->u.str;
    } else {
        WR_TRY(read_line(s, &v->u.global.module));
        WR_TRY(read_line(s, &v->u.global.name));
    }
    return push(s, v);
}

static wr_status memo_put(vm *s, uint64_t idx)
{
    WR_TRY(need_items(s, 1));
    if (idx >= s->memo_limit)
        return fail(s, WR_E_FORMAT, "memo index %llu out of range (limit %zu for this pickle)",
                    (unsigned long long)idx, s->memo_limit);
    while (s->memo_len <= idx) {
        size_t cap = s->memo_len;
        if (!grow((void **)&s->memo, s->memo_len, &cap, sizeof *s->memo))
            return oom(s);
        memset(s->memo + s->memo_len, 0, (cap - s->memo_len) * sizeof *s->memo);
        s->memo_len = cap;
    }
    if (!s->memo[idx])
        s->memo_count++;
    s->memo[idx] = s->stack[s->n - 1];
    return WR_OK;
}

static wr_status memo_get(vm *s, uint64_t idx)
{
    if (idx >= s->memo_len || !s->memo[idx])
        return fail(s, WR_E_FORMAT, "memo index %llu was never set", (unsigned long long)idx);
    return push(s, s->memo[idx]);
}

/* Pops everything above the innermost mark into a new container of kind, and the mark. */
static wr_status collect_to_mark(vm *s, wr_pkl_kind kind, wr_pkl_value **out)
{
    size_t from = 0;
    WR_TRY(pop_mark(s, &from));
    wr_pkl_value *c = new_value(s, kind);
    if (!c)
        return oom(s);
    for (size_t i = from; i < s->n; i++)
        if (!seq_push(c, s->stack[i]))
            return oom(s);
    s->n = from;
    *out = c;
    return WR_OK;
}

static wr_status op_tuple_n(vm *s, int k)
{
    WR_TRY(need_items(s, (size_t)k));
    wr_pkl_value *t = new_value(s, WR_PKL_TUPLE);
    if (!t)
        return oom(s);
    for (size_t i = s->n - (size_t)k; i < s->n; i++)
        if (!seq_push(t, s->stack[i]))
            return oom(s);
    s->n -= (size_t)k;
    return push(s, t);
}

/* SETITEM(S), APPEND(S), ADDITEMS: items go into the container below them. An inert object
 * (e.g. a subclass instance we did not build) silently swallows its items. */
static wr_status fill(vm *s, wr_pkl_value *target, wr_pkl_value **items, size_t k, wr_pkl_kind want)
{
    if (target->kind == WR_PKL_OBJECT)
        return WR_OK;
    if (target->kind != want && !(want == WR_PKL_LIST && target->kind == WR_PKL_SET))
        return fail(s, WR_E_FORMAT, "target is not a %s",
                    want == WR_PKL_DICT ? "dict" : want == WR_PKL_SET ? "set" : "list");
    if (want == WR_PKL_DICT && k % 2)
        return fail(s, WR_E_FORMAT, "odd number of items (%zu) for key/value pairs", k);
    for (size_t i = 0; i < k; i++)
        if (!seq_push(target, items[i]))
            return oom(s);
    return WR_OK;
}

static wr_status op_fill_mark(vm *s, wr_pkl_kind want)
{
    size_t from = 0;
    WR_TRY(pop_mark(s, &from));
    if (from <= mark_top(s)) /* the container must sit just below this mark */
        return fail(s, WR_E_FORMAT, "no container below the MARK");
    WR_TRY(fill(s, s->stack[from - 1], s->stack + from, s->n - from, want));
    s->n = from;
    return WR_OK;
}

static wr_status op_fill_one(vm *s, int k, wr_pkl_kind want)
{
    WR_TRY(need_items(s, (size_t)k + 1));
    WR_TRY(fill(s, s->stack[s->n - (size_t)k - 1], s->stack + s->n - k, (size_t)k, want));
    s->n -= (size_t)k;
    return WR_OK;
}

static wr_status op_persid(vm *s)
{
    wr_pkl_value *pid, *out = NULL;
    WR_TRY(pop(s, &pid));
    char msg[256];
    wr_status st = wr_pkl_torch_storage(s->arena, pid, &out, msg, sizeof msg);
    if (st != WR_OK)
        return fail(s, st, "%s", msg);
    return push(s, out);
}

static wr_status op_reduce(vm *s)
{
    wr_pkl_value *args, *callable, *out = NULL;
    WR_TRY(pop(s, &args));
    WR_TRY(pop(s, &callable));
    if (args->kind != WR_PKL_TUPLE)
        return fail(s, WR_E_FORMAT, "the arguments are not a tuple");
    char msg[256];
    wr_status st = wr_pkl_torch_call(s->arena, callable, args, &out, msg, sizeof msg);
    if (st != WR_OK)
        return fail(s, st, "%s", msg);
    return push(s, out);
}

/* NEWOBJ / NEWOBJ_EX: pop the class and its arguments, push an inert object. */
static wr_status op_newobj(vm *s, int k)
{
    WR_TRY(need_items(s, (size_t)k));
    s->n -= (size_t)k;
    return push(s, new_value(s, WR_PKL_OBJECT));
}

/* ---------------------------------------------------------------------------------------- */
/* The dispatch loop */

static wr_status step(vm *s, bool *stop)
{
    uint64_t u;
    wr_pkl_value *v;
    size_t from = 0;
    switch (s->op) {
    case 0x80: /* PROTO */
        WR_TRY(arg_le(s, 1, &u));
        if (u < 2 || u > 5)
            return fail(s, WR_E_UNSUPPORTED, "pickle protocol %llu (supported: 2 to 5)",
                        (unsigned long long)u);
        return WR_OK;
    case 0x95: /* FRAME: only a read-ahead hint */
        return arg_le(s, 8, &u);
    case '.':
        WR_TRY(need_items(s, 1));
        *stop = true;
        return WR_OK;
    case '(':
        if (!grow((void **)&s->marks, s->n_marks, &s->marks_cap, sizeof *s->marks))
            return oom(s);
        s->marks[s->n_marks++] = s->n;
        return WR_OK;
    case ')': return push(s, new_value(s, WR_PKL_TUPLE));
    case '}': return push(s, new_value(s, WR_PKL_DICT));
    case ']': return push(s, new_value(s, WR_PKL_LIST));
    case 0x8f: return push(s, new_value(s, WR_PKL_SET));
    case 'N': return push(s, new_value(s, WR_PKL_NONE));
    case 0x88:
    case 0x89:
        if (!(v = new_value(s, WR_PKL_BOOL)))
            return oom(s);
        v->u.i = s->op == 0x88;
        return push(s, v);
    case 't': WR_TRY(collect_to_mark(s, WR_PKL_TUPLE, &v)); return push(s, v);
    case 0x91: WR_TRY(collect_to_mark(s, WR_PKL_SET, &v)); return push(s, v);
    case 0x85: return op_tuple_n(s, 1);
    case 0x86: return op_tuple_n(s, 2);
    case 0x87: return op_tuple_n(s, 3);
    case 'X': return op_string(s, 4, WR_PKL_STR);
    case 0x8c: return op_string(s, 1, WR_PKL_STR);
    case 0x8d: return op_string(s, 8, WR_PKL_STR);
    case 'U': return op_string(s, 1, WR_PKL_STR);
    case 'T': return op_string(s, 4, WR_PKL_STR);
    case 'C': return op_string(s, 1, WR_PKL_BYTES);
    case 'B': return op_string(s, 4, WR_PKL_BYTES);
    case 0x8e: return op_string(s, 8, WR_PKL_BYTES);
    case 'K': return op_int(s, 1);
    case 'M': return op_int(s, 2);
    case 'J': return op_int(s, 4);
    case 0x8a: return op_long(s, 1);
    case 0x8b: return op_long(s, 4);
    case 'G': return op_binfloat(s);
    case 'c': return op_global(s, false);
    case 0x93: return op_global(s, true);
    case 'q': WR_TRY(arg_le(s, 1, &u)); return memo_put(s, u);
    case 'r': WR_TRY(arg_le(s, 4, &u)); return memo_put(s, u);
    case 0x94: return memo_put(s, s->memo_count);
    case 'h': WR_TRY(arg_le(s, 1, &u)); return memo_get(s, u);
    case 'j': WR_TRY(arg_le(s, 4, &u)); return memo_get(s, u);
    case 'Q': return op_persid(s);
    case 'R': return op_reduce(s);
    case 0x81: return op_newobj(s, 2);
    case 0x92: return op_newobj(s, 3);
    case 'b': /* BUILD: the state (e.g. a state dict's _metadata) is dropped */
        WR_TRY(need_items(s, 2));
        s->n--;
        return WR_OK;
    case 's': return op_fill_one(s, 2, WR_PKL_DICT);
    case 'u': return op_fill_mark(s, WR_PKL_DICT);
    case 'a': return op_fill_one(s, 1, WR_PKL_LIST);
    case 'e': return op_fill_mark(s, WR_PKL_LIST);
    case 0x90: return op_fill_mark(s, WR_PKL_SET);
    case '0': /* POP: with nothing above the mark, Python pops the mark */
        if (s->n > mark_top(s) || !s->n_marks) {
            WR_TRY(pop(s, &v));
            return WR_OK;
        }
        return pop_mark(s, &from);
    case '1': WR_TRY(pop_mark(s, &from)); s->n = from; return WR_OK;
    case '2': WR_TRY(need_items(s, 1)); return push(s, s->stack[s->n - 1]);
    default:
        return fail(s, WR_E_UNSUPPORTED,
                    "unsupported pickle opcode (outside the safe subset torch state dicts use)");
    }
}

wr_status wr_pkl_run(wr_pkl *arena, const char *path, const char *what, const uint8_t *data,
                     size_t len, uint64_t file_offset, const wr_pkl_value **result,
                     size_t *consumed)
{
    vm s = {.arena = arena, .path = path, .what = what, .d = data, .len = len,
            .base = file_offset, .memo_limit = len + 256};
    wr_status st = WR_OK;
    bool stop = false;
    while (!stop) {
        if (s.pos >= s.len) {
            s.op_pos = s.len;
            st = wr_fail(WR_E_FORMAT,
                         "%s: %s: truncated pickle: no STOP opcode before its end at file "
                         "offset %llu",
                         path, what, (unsigned long long)(file_offset + len));
            goto done;
        }
        s.op_pos = s.pos;
        s.op = s.d[s.pos++];
        st = step(&s, &stop);
        if (st != WR_OK)
            goto done;
    }
    *result = s.stack[s.n - 1];
    if (consumed)
        *consumed = s.pos;
done:
    free(s.stack);
    free(s.marks);
    free(s.memo);
    return st;
}

void wr_pkl_free(wr_pkl *vm_arena)
{
    if (!vm_arena)
        return;
    for (wr_pkl_chunk *c = vm_arena->chunks, *next; c; c = next) {
        next = c->next;
        for (int i = 0; i < c->n; i++) {
            wr_pkl_kind k = c->v[i].kind;
            if (k == WR_PKL_TUPLE || k == WR_PKL_LIST || k == WR_PKL_SET || k == WR_PKL_DICT)
                free(c->v[i].u.seq.items);
        }
        free(c);
    }
    free(vm_arena->storages);
    memset(vm_arena, 0, sizeof *vm_arena);
}

wr_pkl_value *wr_pkl_new_value(wr_pkl *arena, wr_pkl_kind kind)
{
    vm s = {.arena = arena};
    wr_pkl_value *v = new_value(&s, kind);
    if (v && kind == WR_PKL_STORAGE) {
        if (!grow((void **)&arena->storages, arena->n_storages, &arena->storages_cap,
                  sizeof *arena->storages))
            return NULL;
        arena->storages[arena->n_storages++] = v;
    }
    return v;
}

bool wr_pkl_str_eq(wr_pkl_str a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && memcmp(a.s, s, n) == 0;
}

bool wr_pkl_str_is(const wr_pkl_value *v, const char *s)
{
    return v && v->kind == WR_PKL_STR && wr_pkl_str_eq(v->u.str, s);
}
