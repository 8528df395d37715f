#!/usr/bin/env python3
"""Writes the small torch.save-style files in tests/fuzz/corpus_pth/ (fuzz seeds, also read by
tests/io/test_pth.c) WITHOUT torch: CPython's pickler and zipfile, with stand-in classes that
reduce exactly as torch tensors do (torch._utils._rebuild_tensor_v2, persistent ids
('storage', torch.XxxStorage, key, 'cpu', numel)). Dev utility only, not used by the build.
    python3 tools/gen_pth_seeds.py tests/fuzz/corpus_pth
Files: state_dict_zip.pth (protocol 2), state_dict_proto4.pth (protocol 4: FRAME, MEMOIZE,
STACK_GLOBAL), single_tensor.pt (a top-level bf16 tensor, archive "pos_emb"), nested.pth
({'state_dict': ..., 'epoch', 'lr', 'opt': {0: tensor}}), legacy.pth (the pre-1.6 format).
Tensors: module.enc.weight [2,2,3] = 0..11 and module.enc.slice = elements 4..7 of the same
storage, dec.bias f16 [1,2,-1,0], steps int64 [-3, 2^40], scalar = element 11 (0-d)."""
import sys, types, pickle, struct, zipfile, io, collections, os
torch = types.ModuleType('torch'); utils = types.ModuleType('torch._utils')
sys.modules['torch'] = torch; sys.modules['torch._utils'] = utils; torch._utils = utils
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = 'torch._utils'
utils._rebuild_tensor_v2 = _rebuild_tensor_v2
def _rebuild_parameter(*a): pass
_rebuild_parameter.__module__ = 'torch._utils'
utils._rebuild_parameter = _rebuild_parameter
for n in ['FloatStorage','HalfStorage','BFloat16Storage','LongStorage','ByteStorage']:
    c = type(n, (), {}); c.__module__ = 'torch'; c.__qualname__ = n; setattr(torch, n, c)
class Storage:
    def __init__(self, typ, key, data, itemsize): self.typ, self.key, self.data, self.itemsize = typ, key, data, itemsize
class T:
    def __init__(self, st, off, size, stride): self.a = (st, off, size, stride)
    def __reduce_ex__(self, proto):
        st, off, size, stride = self.a
        return (_rebuild_tensor_v2, (st, off, tuple(size), tuple(stride), False, collections.OrderedDict()))
class P(pickle.Pickler):
    legacy = False
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            t = ('storage', obj.typ, obj.key, 'cpu', len(obj.data)//obj.itemsize)
            return t + (None,) if self.legacy else t
        return None
def dumps(obj, proto=2, legacy=False):
    b = io.BytesIO(); p = P(b, protocol=proto); p.legacy = legacy; p.dump(obj); return b.getvalue()
def storages_of(obj, acc):
    if isinstance(obj, T): acc[obj.a[0].key] = obj.a[0]
    elif isinstance(obj, dict):
        for v in obj.values(): storages_of(v, acc)
    return acc
def zipfile_write(path, arch, obj, proto=2):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr(arch + '/data.pkl', dumps(obj, proto))
        z.writestr(arch + '/byteorder', 'little')
        for k, s in storages_of(obj, {}).items(): z.writestr(arch + '/data/' + k, s.data)
        z.writestr(arch + '/version', '3\n')
def legacy_write(path, obj):
    b = io.BytesIO()
    b.write(dumps(0x1950a86a20f9469cfc6c)); b.write(dumps(1001))
    b.write(dumps({'protocol_version': 1001, 'little_endian': True, 'type_sizes': {'short': 2, 'int': 4, 'long': 4}}))
    b.write(dumps(obj, legacy=True))
    st = storages_of(obj, {}); keys = sorted(st)
    b.write(dumps(keys))
    for k in keys: b.write(struct.pack('<q', len(st[k].data)//st[k].itemsize)); b.write(st[k].data)
    open(path, 'wb').write(b.getvalue())
f = lambda *v: struct.pack('<%df' % len(v), *v)
s0 = Storage(torch.FloatStorage, '0', f(*range(12)), 4)
s1 = Storage(torch.HalfStorage, '1', struct.pack('<4H', 0x3c00, 0x4000, 0xbc00, 0), 2)
s2 = Storage(torch.LongStorage, '2', struct.pack('<2q', -3, 1 << 40), 8)
sd = collections.OrderedDict()
sd['module.enc.weight'] = T(s0, 0, (2, 2, 3), (6, 3, 1))
sd['module.enc.slice'] = T(s0, 4, (4,), (1,))
sd['dec.bias'] = T(s1, 0, (4,), (1,))
sd['steps'] = T(s2, 0, (2,), (1,))
sd['scalar'] = T(s0, 11, (), ())
out = sys.argv[1]
zipfile_write(out + '/state_dict_zip.pth', 'archive', sd)
zipfile_write(out + '/state_dict_proto4.pth', 'model', sd, proto=4)
zipfile_write(out + '/single_tensor.pt', 'pos_emb', T(Storage(torch.BFloat16Storage, '0', struct.pack('<6H', *range(0x3f80, 0x3f86)), 2), 0, (2, 3), (3, 1)))
zipfile_write(out + '/nested.pth', 'ckpt', {'state_dict': sd, 'epoch': 3, 'lr': 1e-3, 'opt': {0: T(s0, 0, (12,), (1,))}})
legacy_write(out + '/legacy.pth', sd)
