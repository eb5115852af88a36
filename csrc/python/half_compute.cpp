// float16 / bfloat16 compute: PyTorch's CPU "opmath" rule at the binding layer.
//
// Half tensors are storage types (core/dtype.h): their kernels only move bytes. Every compute op
// listed below is rebound here, after all bindings exist, behind one wrapper that
//  1. finds the float16/bfloat16 tensors among its arguments (also inside lists: cat-like and the
//     fused optimizers' parameter lists); with none, it calls the op at once (the float32 path
//     pays one scan of the arguments);
//  2. converts each of them to float32 (exact), calls the float32 op,
//  3. rounds every float32 tensor it returns to the half dtype, once (integer and bool results, as
//     argmax's or eq's, are kept), and
//  4. for the arguments an op writes into (out=, scatter_add_'s self, running statistics, fused
//     optimizer state), rounds the float32 copies back into the caller's tensors, and returns the
//     caller's tensor where the op returned the one it wrote.
// Elementwise results are then PyTorch's bits (its CPU kernels convert each element to float,
// compute in float and round once); reductions, matmul and conv accumulate in float32 as PyTorch's
// do, so they agree within half rounding. Ops not listed (new ones included) raise their dtype error
// ("<op>: not implemented for dtype float16"), never computing silently in the wrong type.
// Data movement (views, copy, index, gather, cat, where, pad, flip, roll, ...) is not listed: those
// kernels handle the half types themselves and a view must stay a view.
#include <cstring>
#include <string>
#include <vector>
#include "core/copy.h"
#include "python/bind.h"

namespace flambeau::python {
namespace {

struct HalfOp {
  const char* name;
  // The arguments the op writes into (out=, an in-place op's self, running statistics, optimizer
  // state), by position and by keyword name (" name1 name2 "): their float32 copies are rounded
  // back into the caller's tensors. Only these: a write-back bumps a tensor's version counter,
  // which autograd would take for an in-place change of a saved input.
  uint32_t written_pos;  // bit i: positional argument i
  const char* written_names;
  bool float32_ok = false;  // float32/float64 tensors may come with the half ones (step counters)
  bool float32_scalar_ok = false;  // a 0-d float32/float64 operand may (mul, div)
  bool writes(Py_ssize_t pos) const { return pos < 32 && (written_pos >> pos) & 1u; }
  bool writes(const char* kw) const {
    return std::strstr(written_names, (std::string(" ") + kw + " ").c_str()) != nullptr;
  }
};

constexpr uint32_t P(int i) { return 1u << i; }

// clang-format off
const HalfOp kHalfOps[] = {
  // elementwise: unary, binary, ternary, comparisons
  {"neg", P(1), " out "}, {"abs", P(1), " out "}, {"exp", P(1), " out "}, {"log", P(1), " out "}, {"log2", P(1), " out "},
  {"log10", P(1), " out "}, {"log1p", P(1), " out "}, {"expm1", P(1), " out "}, {"sqrt", P(1), " out "}, {"rsqrt", P(1), " out "},
  {"sin", P(1), " out "}, {"cos", P(1), " out "}, {"tan", P(1), " out "}, {"tanh", P(1), " out "}, {"sigmoid", P(1), " out "},
  {"relu", P(1), " out "}, {"sign", P(1), " out "}, {"floor", P(1), " out "}, {"ceil", P(1), " out "}, {"round", P(1), " out "},
  {"trunc", P(1), " out "}, {"reciprocal", P(1), " out "}, {"erf", P(1), " out "}, {"square", P(1), " out "},
  {"logical_not", P(1), " out "}, {"isnan", P(1), " out "}, {"isinf", P(1), " out "}, {"isfinite", P(1), " out "},
  {"asin", P(1), " out "}, {"acos", P(1), " out "}, {"atan", P(1), " out "}, {"sinh", P(1), " out "}, {"cosh", P(1), " out "},
  {"asinh", P(1), " out "}, {"acosh", P(1), " out "}, {"atanh", P(1), " out "}, {"erfc", P(1), " out "}, {"erfinv", P(1), " out "},
  {"lgamma", P(1), " out "}, {"digamma", P(1), " out "}, {"trigamma", P(1), " out "},
  // torch.i0 / special.i0e / i1 / i1e take the half types in PyTorch (computed in float, rounded once);
  // the rest of torch.special's Bessel family, erfcx, log_ndtr, ndtri, zeta and the polynomials raise
  // "not implemented for 'Half'" there, so they are not listed.
  {"i0", P(1), " out "}, {"special_i0e", P(1), " out "}, {"special_i1", P(1), " out "}, {"special_i1e", P(1), " out "},
  {"add", P(2), " out "}, {"sub", P(2), " out "}, {"mul", P(2), " out ", false, true}, {"div", P(2), " out ", false, true}, {"pow", P(2), " out "},
  {"maximum", P(2), " out "}, {"minimum", P(2), " out "}, {"remainder", P(2), " out "}, {"fmod", P(2), " out "}, {"hypot", P(2), " out "}, {"floor_divide", P(2), " out "},
  {"atan2", P(2), " out "}, {"eq", P(2), " out "}, {"ne", P(2), " out "}, {"lt", P(2), " out "}, {"le", P(2), " out "},
  {"gt", P(2), " out "}, {"ge", P(2), " out "}, {"logical_and", P(2), " out "}, {"logical_or", P(2), " out "},
  {"logical_xor", P(2), " out "}, {"fused_tanh_backward", P(2), " out "}, {"sigmoid_backward", P(2), " out "},
  {"clamp", P(3), " out "}, {"addcmul", P(4), " out "}, {"addcdiv", P(4), " out "}, {"lerp", P(3), " out "},
  {"threshold_backward", 0, ""},
  // reductions, scans, sorting
  {"sum", 0, ""}, {"mean", 0, ""}, {"prod", 0, ""}, {"amax", 0, ""}, {"amin", 0, ""},
  {"all", 0, ""}, {"any", 0, ""}, {"norm2", 0, ""}, {"var", 0, ""}, {"std", 0, ""},
  {"logsumexp", 0, ""}, {"max_dim", 0, ""}, {"min_dim", 0, ""}, {"argmax", 0, ""},
  {"argmin", 0, ""}, {"cumsum", 0, ""}, {"cumprod", 0, ""}, {"cumprod_backward", 0, ""},
  {"cummax", 0, ""}, {"cummin", 0, ""}, {"sort", 0, ""}, {"topk", 0, ""},
  {"kthvalue", 0, ""}, {"median", 0, ""},
  // linear algebra, softmax, distances, recurrent cells
  {"mm", 0, ""}, {"dot", 0, ""}, {"bmm", 0, ""}, {"linear", 0, ""},
  {"cdist", 0, ""}, {"cdist_backward", 0, ""}, {"pdist", 0, ""}, {"pdist_backward", 0, ""},
  {"softmax", 0, ""}, {"log_softmax", 0, ""}, {"softmax_backward", 0, ""},
  {"log_softmax_backward", 0, ""}, {"lstm_cell", 0, ""}, {"lstm_cell_backward", 0, ""},
  {"gru_cell", 0, ""}, {"gru_cell_backward", 0, ""},
  // random draws and scatters that compute (uniform_/normal_ on a half tensor: ops/creation.cpp)
  {"bernoulli", 0, ""},
  {"scatter_add_", P(0), " self "}, {"scatter_reduce_", P(0), " self "}, {"pad_gather_backward", 0, ""},
  // convolution, pooling, grid sampling
  {"conv2d", 0, ""}, {"conv2d_backward", 0, ""}, {"conv3d", 0, ""}, {"conv3d_backward", 0, ""},
  {"conv_transpose2d", 0, ""}, {"conv_transpose2d_backward", 0, ""}, {"conv_transpose3d", 0, ""},
  {"conv_transpose3d_backward", 0, ""}, {"unfold2d", 0, ""}, {"fold2d", 0, ""},
  {"avg_pool2d", 0, ""}, {"avg_pool2d_backward", 0, ""}, {"avg_pool3d", 0, ""},
  {"avg_pool3d_backward", 0, ""}, {"max_pool2d", 0, ""}, {"max_pool2d_backward", 0, ""},
  {"max_pool3d", 0, ""}, {"max_pool3d_backward", 0, ""}, {"adaptive_avg_pool2d", 0, ""},
  {"adaptive_avg_pool2d_backward", 0, ""}, {"adaptive_avg_pool3d", 0, ""},
  {"adaptive_avg_pool3d_backward", 0, ""}, {"adaptive_max_pool2d", 0, ""},
  {"adaptive_max_pool2d_backward", 0, ""}, {"adaptive_max_pool3d", 0, ""},
  {"max_unpool3d", 0, ""}, {"max_unpool3d_backward", 0, ""},
  {"grid_sample", 0, ""}, {"grid_sample_backward", 0, ""},
  // activations
  {"act_relu", 0, ""}, {"act_relu_backward", 0, ""}, {"act_sigmoid", 0, ""},
  {"act_sigmoid_backward", 0, ""}, {"act_tanh", 0, ""}, {"act_tanh_backward", 0, ""},
  {"elu", 0, ""}, {"elu_backward", 0, ""}, {"gelu", 0, ""}, {"gelu_backward", 0, ""},
  {"glu", 0, ""}, {"glu_backward", 0, ""}, {"hardshrink", 0, ""}, {"hardshrink_backward", 0, ""},
  {"hardsigmoid", 0, ""}, {"hardsigmoid_backward", 0, ""}, {"hardswish", 0, ""},
  {"hardswish_backward", 0, ""}, {"hardtanh", 0, ""}, {"hardtanh_backward", 0, ""},
  {"leaky_relu", 0, ""}, {"leaky_relu_backward", 0, ""}, {"log_sigmoid", 0, ""},
  {"log_sigmoid_backward", 0, ""}, {"mish", 0, ""}, {"mish_backward", 0, ""},
  {"prelu", 0, ""}, {"prelu_backward", 0, ""}, {"silu", 0, ""}, {"silu_backward", 0, ""},
  {"softplus", 0, ""}, {"softplus_backward", 0, ""}, {"softshrink", 0, ""},
  {"softshrink_backward", 0, ""}, {"softsign", 0, ""}, {"softsign_backward", 0, ""},
  {"tanhshrink", 0, ""}, {"tanhshrink_backward", 0, ""}, {"threshold", 0, ""},
  // losses
  {"binary_cross_entropy", 0, ""}, {"binary_cross_entropy_backward", 0, ""},
  {"binary_cross_entropy_with_logits", 0, ""}, {"binary_cross_entropy_with_logits_backward", 0, ""},
  {"cosine_embedding_loss", 0, ""}, {"cosine_embedding_loss_backward", 0, ""},
  {"cross_entropy", 0, ""}, {"cross_entropy_backward", 0, ""}, {"ctc_loss", 0, ""},
  {"ctc_loss_backward", 0, ""}, {"huber_loss", 0, ""}, {"huber_loss_backward", 0, ""},
  {"kl_div", 0, ""}, {"kl_div_backward", 0, ""}, {"l1_loss", 0, ""}, {"l1_loss_backward", 0, ""},
  {"mse_loss", 0, ""}, {"mse_loss_backward", 0, ""}, {"multi_margin_loss", 0, ""},
  {"multi_margin_loss_backward", 0, ""}, {"nll_loss", 0, ""}, {"nll_loss_backward", 0, ""},
  {"smooth_l1_loss", 0, ""}, {"smooth_l1_loss_backward", 0, ""},
  // normalization (batch_norm updates the running statistics in place), dropout, optimizers
  {"batch_norm", P(3) | P(4), " running_mean running_var "}, {"batch_norm_backward", 0, ""}, {"layer_norm", 0, ""},
  {"layer_norm_backward", 0, ""}, {"group_norm", 0, ""}, {"group_norm_backward", 0, ""},
  {"dropout", P(2), " out "}, {"dropout_backward", 0, ""}, {"feature_dropout", P(2), " out "},
  {"feature_dropout_backward", 0, ""},
  {"fused_sgd_", P(0) | P(2), " params momentum_buffers ", true},
  {"fused_adam_", P(0) | P(2) | P(3) | P(4) | P(5), " params exp_avgs exp_avg_sqs max_exp_avg_sqs state_steps ", true},
  {"fused_rmsprop_", P(0) | P(2) | P(3) | P(4) | P(5), " params square_avgs grad_avgs momentum_buffers state_steps ", true},
  {"fused_adagrad_", P(0) | P(2) | P(3), " params state_sums state_steps ", true},
};
// clang-format on

struct Wrapped {
  PyObject* orig;  // the float32 binding (owned, kept for the module's lifetime)
  const HalfOp* op;
};

PyTypeObject* g_tensor_type = nullptr;

inline const Tensor* tensor_of(PyObject* o) {
  if (Py_TYPE(o) != g_tensor_type) return nullptr;
  return &py::handle(o).cast<const Tensor&>();
}

// What the arguments hold: the half dtype of their float16/bfloat16 tensors (Bool: none), whether
// both half dtypes occur, and whether a float32/float64 tensor occurs too.
struct Scan {
  DType half = DType::Bool;
  bool both_halves = false;
  bool half_dims = false;   // a half tensor with dims
  bool wide_float = false;  // a float32 tensor
  bool wide_dims = false;   // one with dims
};

void scan(PyObject* o, Scan& s) {
  if (const Tensor* t = tensor_of(o)) {
    // float32 only: float64 tensors pass as they are (the float32 ops take float64 statistics of
    // their own, as cross_entropy's log-sum-exp; where they must match, the op checks).
    if (t->dtype == DType::Float32) {
      s.wide_float = true;
      s.wide_dims = s.wide_dims || t->dim() > 0;
    }
    if (!is_half(t->dtype)) return;
    s.half_dims = s.half_dims || t->dim() > 0;
    if (s.half == DType::Bool) s.half = t->dtype;
    if (s.half != t->dtype) s.both_halves = true;
    return;
  }
  if (PyList_Check(o) || PyTuple_Check(o)) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject** items = PySequence_Fast_ITEMS(o);
    for (Py_ssize_t i = 0; i < n; ++i) scan(items[i], s);
  }
}

struct Converted {
  py::object original;  // the caller's half tensor
  Tensor widened;       // its float32 copy, handed to the op
  bool write_back;
};

// o with its half tensors (also inside lists/tuples) replaced by float32 copies.
py::object widen(PyObject* o, bool write_back, std::vector<Converted>& conv) {
  if (const Tensor* t = tensor_of(o)) {
    if (!is_half(t->dtype)) return py::reinterpret_borrow<py::object>(o);
    Tensor w = to(*t, DType::Float32, t->device(), false);
    conv.push_back({py::reinterpret_borrow<py::object>(o), w, write_back});
    return py::cast(w);
  }
  const bool is_list = PyList_Check(o);
  if (is_list || PyTuple_Check(o)) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject** items = PySequence_Fast_ITEMS(o);
    py::list out(n);
    for (Py_ssize_t i = 0; i < n; ++i) out[(size_t)i] = widen(items[i], write_back, conv);
    if (is_list) return std::move(out);
    return py::tuple(out);
  }
  return py::reinterpret_borrow<py::object>(o);
}

bool same_view(const Tensor& a, const Tensor& b) {
  return a.storage == b.storage && a.offset == b.offset && a.sizes == b.sizes && a.strides == b.strides &&
         a.dtype == b.dtype;
}

// The op's result with float32 tensors rounded to `half`, and a float32 copy the op wrote (out=,
// an in-place op's self) replaced by the caller's tensor it was rounded back into.
py::object narrow(const py::handle& r, DType half, const std::vector<Converted>& conv) {
  if (const Tensor* t = tensor_of(r.ptr())) {
    for (const Converted& c : conv)
      if (c.write_back && same_view(*t, c.widened)) return c.original;
    if (t->dtype != DType::Float32) return py::reinterpret_borrow<py::object>(r);
    return py::cast(to(*t, half, t->device(), false));
  }
  const bool is_list = PyList_Check(r.ptr());
  if (is_list || PyTuple_Check(r.ptr())) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(r.ptr());
    PyObject** items = PySequence_Fast_ITEMS(r.ptr());
    py::list out(n);
    for (Py_ssize_t i = 0; i < n; ++i) out[(size_t)i] = narrow(items[i], half, conv);
    if (is_list) return std::move(out);
    return py::tuple(out);
  }
  return py::reinterpret_borrow<py::object>(r);
}

PyObject* call_half(const Wrapped& w, PyObject* const* args, size_t nargsf, PyObject* kwnames, DType half) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  std::vector<Converted> conv;
  std::vector<py::object> held((size_t)(nargs + nkw));
  std::vector<PyObject*> call((size_t)(nargs + nkw) + 1);
  for (Py_ssize_t i = 0; i < nargs + nkw; ++i) {
    const bool written = i < nargs ? w.op->writes(i) : w.op->writes(PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i - nargs)));
    held[(size_t)i] = widen(args[i], written, conv);
    call[(size_t)i + 1] = held[(size_t)i].ptr();
  }
  PyObject* r = PyObject_Vectorcall(w.orig, call.data() + 1, (size_t)nargs | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
  if (!r) return nullptr;
  py::object result = py::reinterpret_steal<py::object>(r);
  for (const Converted& c : conv)
    if (c.write_back) copy_(c.original.cast<const Tensor&>(), c.widened);
  return narrow(result, half, conv).release().ptr();
}

PyObject* half_wrapper(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  const Wrapped& w = *static_cast<const Wrapped*>(PyCapsule_GetPointer(self, "flambeau.half_op"));
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  Scan sc;
  try {
    for (Py_ssize_t i = 0; i < nargs + nkw; ++i) scan(args[i], sc);
    // No half tensor; or a half tensor next to a float32/float64 one, which the op must see as is:
    // it raises its dtype-mismatch error (the Python layer relies on that error to promote, as in
    // float16 + float32 -> float32), where widening would hide it and round a float32 result.
    // The fused optimizers take float32 step counters with half parameters, as PyTorch's.
    // mul and div take a 0-d float32 operand (a Python scalar, a 0-d tensor) at its own precision
    // next to a half tensor with dims, as PyTorch's CPU kernels do for the reduced float types
    // (x_half * 1.7 multiplies by 1.7f, not by 1.7 rounded to half; add and sub round it).
    const bool scalar_ok = w.op->float32_scalar_ok && !sc.wide_dims && sc.half_dims;
    if (sc.half == DType::Bool || (sc.wide_float && !w.op->float32_ok && !scalar_ok))
      return PyObject_Vectorcall(w.orig, args, (size_t)nargs, kwnames);
    if (sc.both_halves)
      throw TypeError(std::string(w.op->name) +
                      ": got float16 and bfloat16 tensors together; convert them to one dtype first");
    return call_half(w, args, (size_t)nargs, kwnames, sc.half);
  } catch (py::error_already_set& e) {
    e.restore();
    return nullptr;
  } catch (const TypeError& e) {
    PyErr_SetString(PyExc_TypeError, e.what());
    return nullptr;
  } catch (const ValueError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
    return nullptr;
  } catch (const IndexError& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
    return nullptr;
  } catch (const NotImplementedError& e) {
    PyErr_SetString(PyExc_NotImplementedError, e.what());
    return nullptr;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

}  // namespace

void bind_half_compute(py::module_& m) {
  g_tensor_type = reinterpret_cast<PyTypeObject*>(py::type::of<Tensor>().ptr());
  for (const HalfOp& op : kHalfOps) {
    if (!py::hasattr(m, op.name)) throw std::logic_error(std::string("half_compute: no binding named ") + op.name);
    // Lives as long as the process (the module is never unloaded): the method table and the
    // capsule's pointee must outlive every call.
    auto* w = new Wrapped{py::object(m.attr(op.name)).release().ptr(), &op};
    // The float32 binding's docstring (its signatures), for help().
    const char* doc = nullptr;
    if (py::hasattr(m.attr(op.name), "__doc__") && !m.attr(op.name).attr("__doc__").is_none())
      doc = strdup(m.attr(op.name).attr("__doc__").cast<std::string>().c_str());
    auto* def = new PyMethodDef{op.name, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&half_wrapper)),
                                METH_FASTCALL | METH_KEYWORDS, doc};
    py::capsule cap(static_cast<void*>(w), "flambeau.half_op");
    PyObject* f = PyCFunction_NewEx(def, cap.ptr(), m.attr("__name__").ptr());
    if (!f) throw py::error_already_set();
    m.attr(op.name) = py::reinterpret_steal<py::object>(f);
  }
}

}  // namespace flambeau::python
