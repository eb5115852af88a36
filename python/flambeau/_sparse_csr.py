"""Sparse CSR matrices (layout flambeau.sparse_csr): torch.sparse_csr_tensor, dense.to_sparse_csr(),
COO <-> CSR, to_dense, crow_indices / col_indices / values, printing as PyTorch prints them, and
CSR @ dense through the same C++ kernel as COO (csrc/cpu/sparse.cpp; the rows are already grouped).

Like SparseCooTensor, `SparseCsrTensor` is a Tensor subclass whose `_impl` carries only shape, dtype
and device, so a dense op handed one fails loudly. 2-D matrices with scalar values only (no batch
or dense dims, no CSC/BSR).
"""
import numpy as np

from ._tensor import Tensor, _blank, _disabled_torch_function_impl
from ._sparse import (_Layout, _SparseMeta, _make, _host, _long, _size_str, _layout_repr,
                      _INHERITED_OK, SparseCooTensor, _coalesce)
from ._dtype import _BY_NAME

sparse_csr = _Layout("sparse_csr")


class _CsrMeta(_SparseMeta):
    __slots__ = ()

    def __getattr__(self, name):
        raise NotImplementedError(
            f"this operation is not supported for sparse CSR tensors (layout=flambeau.sparse_csr): it needs a "
            f"dense tensor's '{name}'; call .to_dense() first")


def _make_csr(crow, col, values, shape, requires_grad=False):
    t = _blank(SparseCsrTensor)
    vi = values._impl
    t._impl = _CsrMeta(tuple(shape), vi.dtype, vi.device)
    t._rg = requires_grad
    t._crow, t._col, t._vals = crow, col, values
    return t


class SparseCsrTensor(Tensor):
    """A 2-D sparse matrix in CSR format: row r's entries are col_indices[crow[r]:crow[r + 1]] with
    values[crow[r]:crow[r + 1]]."""
    __torch_function__ = _disabled_torch_function_impl  # ops on it return plain tensors (as PyTorch's)
    __slots__ = ("_crow", "_col", "_vals")
    _is_sparse_csr = True

    def __new__(cls, *args, **kwargs):
        raise TypeError("create CSR tensors with flambeau.sparse_csr_tensor(crow_indices, col_indices, values, size)")

    @property
    def layout(self):
        return sparse_csr

    @property
    def is_sparse(self):
        return False

    @property
    def is_sparse_csr(self):
        return True

    def crow_indices(self):
        return self._crow

    def col_indices(self):
        return self._col

    def values(self):
        return self._vals

    def _nnz(self):
        return self._vals._impl.shape[0]

    def sparse_dim(self):
        return 2

    def dense_dim(self):
        return 0

    def is_contiguous(self, memory_format=None):
        return False

    def __len__(self):
        return self._impl.shape[0]

    def to_sparse_coo(self):
        """The same matrix in COO form, entries in CSR order (flagged coalesced, as PyTorch does)."""
        crow = _host(self._crow).astype(np.int64)
        rows = np.repeat(np.arange(self._impl.shape[0], dtype=np.int64), np.diff(crow))
        dev = self._impl.device
        cols = self._col if self._col._impl.dtype == "int64" else self._col.long()
        idx = _long(rows, dev).reshape((1, -1))
        from ._functions.join import cat
        return _make(cat([idx, cols.reshape((1, -1))], 0), self._vals, self._impl.shape, True)

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        if layout is sparse_csr:
            return self
        return self.to_sparse_coo()

    def to_sparse_csr(self, dense_dim=None):
        return self

    def to_dense(self, dtype=None, *, masked_grad=None):
        out = self.to_sparse_coo().to_dense()
        return out if dtype is None else out.to(dtype)

    def detach(self):
        return _make_csr(self._crow, self._col, self._vals, self._impl.shape)

    @property
    def data(self):
        return self.detach()

    def clone(self, *, memory_format=None):
        return _make_csr(self._crow.clone(), self._col.clone(), self._vals.clone(), self._impl.shape)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    def to(self, *args, **kwargs):
        from ._tensor import _parse_to
        from ._dtype import _device_str
        kwargs.pop("memory_format", None)
        dt, dev, copy = _parse_to(args, kwargs)
        dt_name = self._impl.dtype if dt is None else dt._name
        dev_str = self._impl.device if dev is None else _device_str(dev)
        if dt_name == self._impl.dtype and dev_str == self._impl.device and not copy:
            return self
        return _make_csr(self._crow.to(device=dev_str, copy=copy), self._col.to(device=dev_str, copy=copy),
                         self._vals.to(dtype=_BY_NAME[dt_name], device=dev_str, copy=copy), self._impl.shape)

    def _cast(self, name, memory_format=None):
        return self.to(_BY_NAME[name])

    def numpy(self, *, force=False):
        raise TypeError("can't convert SparseCsr layout tensor to numpy. Use Tensor.to_dense() first.")

    def __repr__(self, *, tensor_contents=None):
        return _layout_repr(self, [("crow_indices", self._crow), ("col_indices", self._col), ("values", self._vals)],
                            "sparse_csr", force_newline=False)

    def __matmul__(self, other):
        from ._sparse_mm import matmul
        return matmul(self, other)

    def __rmatmul__(self, other):
        from ._sparse_mm import matmul
        return matmul(other, self)

    def matmul(self, other):
        return self.__matmul__(other)

    def mm(self, mat2):
        from ._sparse_mm import mm
        return mm(self, mat2)


def _check_index_dtype(t, name):
    if t._impl.dtype not in ("int64", "int32"):
        raise RuntimeError(f"sparse_csr_tensor: {name} must be an int32 or int64 tensor, got {t.dtype}")


def sparse_csr_tensor(crow_indices, col_indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                      requires_grad=False, check_invariants=None):
    """A sparse CSR matrix (torch.sparse_csr_tensor). crow_indices must start at 0, not decrease and
    end at nnz, and every column index lie inside the size: always checked (a bad index would
    later read out of bounds); with check_invariants=True each row's columns must also be sorted
    and distinct, as PyTorch checks."""
    from ._sparse import _as_tensor
    from ._dtype import _device_str
    crow, col = _as_tensor(crow_indices), _as_tensor(col_indices)
    vals = _as_tensor(values, dtype)
    _check_index_dtype(crow, "crow_indices")
    _check_index_dtype(col, "col_indices")
    if crow._impl.dtype != col._impl.dtype:
        raise RuntimeError(f"sparse_csr_tensor: expected col_indices and crow_indices to have the same dtype, got "
                           f"{col.dtype} and {crow.dtype}")
    if crow._impl.ndim != 1 or col._impl.ndim != 1 or vals._impl.ndim != 1:
        raise NotImplementedError(f"sparse_csr_tensor: only 2-D CSR matrices with scalar values are supported by "
                                  f"flambeau (got crow_indices {_size_str(crow.shape)}, col_indices "
                                  f"{_size_str(col.shape)}, values {_size_str(vals.shape)})")
    nnz = vals._impl.shape[0]
    if col._impl.shape[0] != nnz:
        raise RuntimeError(f"sparse_csr_tensor: col_indices and values must have the same number of elements, but "
                           f"got {col._impl.shape[0]} and {nnz}")
    if crow._impl.shape[0] < 1:
        raise RuntimeError("sparse_csr_tensor: crow_indices must have at least one element (nrows + 1)")
    rp = _host(crow).astype(np.int64)
    cols = _host(col).astype(np.int64)
    M = rp.shape[0] - 1
    if size is None:
        shape = (M, int(cols.max()) + 1 if nnz else 0)
    else:
        shape = tuple(int(s) for s in size)
        if len(shape) != 2:
            raise NotImplementedError(f"sparse_csr_tensor: size {shape}: only 2-D CSR matrices are supported by "
                                      "flambeau")
        if shape[0] != M:
            raise RuntimeError(f"sparse_csr_tensor: crow_indices.size(-1) ({rp.shape[0]}) must be equal to "
                               f"size[-2] + 1 ({shape[0] + 1})")
    if rp[0] != 0:
        raise RuntimeError(f"`crow_indices[..., 0] == 0` is not satisfied (got {int(rp[0])})")
    if rp[-1] != nnz:
        raise RuntimeError(f"`crow_indices[..., -1] == nnz` is not satisfied (got {int(rp[-1])}, nnz = {nnz})")
    if M and (np.diff(rp) < 0).any():
        raise RuntimeError("`0 <= crow_indices[..., 1:] - crow_indices[..., :-1] <= ncols` is not satisfied")
    if nnz and (cols.min() < 0 or cols.max() >= shape[1]):
        raise RuntimeError(f"`0 <= col_indices < ncols` is not satisfied (ncols = {shape[1]}, got column "
                           f"{int(cols.min() if cols.min() < 0 else cols.max())})")
    if check_invariants and nnz:
        rows = np.repeat(np.arange(M), np.diff(rp))
        same_row = rows[1:] == rows[:-1]
        if (same_row & (cols[1:] <= cols[:-1])).any():
            raise RuntimeError("`col_indices[..., crow_indices[..., i - 1]:crow_indices[..., i]] for all i = 1, ..., "
                               "nrows are sorted and distinct along the last dimension values` is not satisfied.")
    from . import no_grad
    dev = _device_str(device) if device is not None else vals._impl.device
    with no_grad():
        crow, col, vals = (x.detach() if x._impl.device == dev else x.detach().to(dev) for x in (crow, col, vals))
    t = _make_csr(crow, col, vals, shape)
    if requires_grad:
        t.requires_grad = True
    return t


def coo_to_csr(s):
    """A 2-D COO tensor as CSR (coalesced first, as PyTorch's to_sparse_csr)."""
    if s._impl.ndim != 2 or s.sparse_dim() != 2:
        raise RuntimeError(f"to_sparse_csr: only 2-D sparse matrices without dense dims are supported by flambeau "
                           f"(got shape {_size_str(s.shape)}, sparse_dim {s.sparse_dim()})")
    c = s if s._sp_c else _coalesce(s)
    idx = _host(c._sp_i)
    M = s._impl.shape[0]
    crow = np.zeros(M + 1, dtype=np.int64)
    np.cumsum(np.bincount(idx[0], minlength=M), out=crow[1:])
    dev = s._impl.device
    return _make_csr(_long(crow, dev), c._sp_i[1].contiguous(), c._sp_v, s._impl.shape)


def _dense_to_sparse_csr(self, dense_dim=None):
    if self._impl.ndim != 2:
        raise RuntimeError(f"to_sparse_csr: expected a 2-D tensor, got shape {_size_str(self.shape)} (batched CSR "
                           "is not supported by flambeau)")
    return coo_to_csr(self.to_sparse())


def _coo_to_sparse_csr(self, dense_dim=None):
    return coo_to_csr(self)


def _install():
    from ._sparse import _dense_to_sparse, LEAF_CLASSES
    LEAF_CLASSES.add(SparseCsrTensor)
    Tensor.to_sparse_csr = _dense_to_sparse_csr
    SparseCooTensor.to_sparse_csr = _coo_to_sparse_csr
    Tensor.is_sparse_csr = property(lambda self: False)
    Tensor.crow_indices = _dense_only_csr("crow_indices")
    Tensor.col_indices = _dense_only_csr("col_indices")

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        if layout is sparse_csr:
            return _dense_to_sparse_csr(self)
        return _dense_to_sparse(self, sparse_dim, layout=layout, blocksize=blocksize, dense_dim=dense_dim)
    Tensor.to_sparse = to_sparse
    coo_to_sparse = SparseCooTensor.to_sparse

    def coo_to_sparse_layout(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        if layout is sparse_csr:
            return coo_to_csr(self)
        return coo_to_sparse(self, sparse_dim, layout=layout, blocksize=blocksize, dense_dim=dense_dim)
    SparseCooTensor.to_sparse = coo_to_sparse_layout


def _dense_only_csr(name):
    def op(self, *args, **kwargs):
        raise RuntimeError(f"{name} expected sparse row compressed tensor layout but got "
                           f"{'SparseCoo' if self.__class__ is SparseCooTensor else 'Strided'}")
    op.__name__ = name
    return op


def finish_setup():
    """Blocks every dense method on CSR tensors (called by _sparse._finish_setup's caller)."""
    for name in dir(Tensor):
        if name in SparseCsrTensor.__dict__ or name in _INHERITED_OK:
            continue
        attr = getattr(Tensor, name, None)
        if callable(attr) and not isinstance(attr, type) and not isinstance(Tensor.__dict__.get(name), property):
            setattr(SparseCsrTensor, name, _unsupported_csr(name))
    SparseCsrTensor.__hash__ = Tensor.__hash__


def _unsupported_csr(name):
    def op(self, *args, **kwargs):
        raise NotImplementedError(f"{name}: not supported for sparse CSR tensors (layout=flambeau.sparse_csr) by "
                                  "flambeau; call .to_dense() first")
    op.__name__ = name
    return op


_install()
