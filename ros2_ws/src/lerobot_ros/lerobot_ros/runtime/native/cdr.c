/* Little-endian CDR (de)serialization of rosbags message objects, byte-identical to rosbags' generated code.
 *
 * A Plan per message type is built once in Python (lerobot_ros.runtime.native) from rosbags' field
 * definitions: one entry per field with its kind, primitive, fixed length, the alignment rosbags applies
 * before each element and after the field, and the Plan of a nested type. The per-message path is a loop
 * over those entries. Every read of the input is bounds-checked before use; no allocation is sized by an
 * unchecked length. The GIL is held throughout.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#if PY_LITTLE_ENDIAN != 1
#error "cdr.c writes little-endian CDR by copying native values: big-endian hosts use rosbags"
#endif

enum { K_SCALAR, K_STRING, K_NESTED, K_ARR_PRIM, K_ARR_STR, K_ARR_NESTED, K_SEQ_PRIM, K_SEQ_STR, K_SEQ_NESTED,
       K_COUNT };
enum { P_BOOL, P_BYTE, P_CHAR, P_INT8, P_UINT8, P_INT16, P_UINT16, P_INT32, P_UINT32, P_INT64, P_UINT64,
       P_FLOAT32, P_FLOAT64, P_COUNT };

static const int PRIM_SIZE[P_COUNT] = {1, 1, 1, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
static const long long PRIM_MIN[P_COUNT] = {0, -128, 0, -128, 0, -32768, 0, INT32_MIN, 0, INT64_MIN, 0, 0, 0};
static const long long PRIM_MAX[P_COUNT] = {1, 127, 255, 127, 255, 32767, 65535, INT32_MAX, UINT32_MAX, INT64_MAX,
                                            0, 0, 0};
static const char *PRIM_NAME[P_COUNT] = {"bool", "byte", "char", "int8", "uint8", "int16", "uint16", "int32",
                                         "uint32", "int64", "uint64", "float32", "float64"};
static const char *NUMPY_NAME[P_COUNT] = {"bool_", "uint8", "uint8", "int8", "uint8", "int16", "uint16", "int32",
                                          "uint32", "int64", "uint64", "float32", "float64"};
static const char PRIM_KIND[P_COUNT] = {'b', 'u', 'u', 'i', 'u', 'i', 'u', 'i', 'u', 'i', 'u', 'f', 'f'};

typedef struct Plan Plan;

#define STRING_CACHE 8
#define STRING_CACHE_MAX_LEN 64

typedef struct {           /* hot members first: 40 bytes a field */
    unsigned char kind, prim;
    unsigned char elem_align;  /* alignment before elements (nested/string arrays) or before non-empty data */
    unsigned char post_align;  /* alignment after the field (0: none) */
    Py_ssize_t count;          /* fixed array length */
    PyObject *name;            /* interned attribute name */
    void *sub_or_descr;        /* nested type (Plan *) or numpy dtype of numeric arrays (PyArray_Descr *) */
    PyObject **strings;        /* string fields: the last short ASCII strings read (by element index): frame ids
                                  and joint names repeat, and a str is immutable, so they are reused */
    PyObject *label;           /* "pkg/msg/Type.field", for errors */
} Field;

#define SUB(f) ((Plan *)(f)->sub_or_descr)
#define DESCR(f) ((PyArray_Descr *)(f)->sub_or_descr)

struct Plan {
    PyObject_HEAD
    PyObject *typename;
    PyTypeObject *cls;
    int fast_new;          /* construct as cls(*values) does: tp_new, then set each attribute */
    Py_ssize_t nfields, nextras;
    Field *fields;
    PyObject **extra_names, **extra_values;  /* dataclass fields with defaults (constants, __msgtype__) */
    unsigned long long max_sequence;
    Py_ssize_t size_hint;  /* the last serialized size: the next buffer starts that large */
};

static PyTypeObject PlanType;
static PyObject *empty_tuple;

/* ------------------------------------------------------------------------------------------ serialize */

typedef struct {
    PyObject *buf;  /* bytes, resized as needed, shrunk at the end */
    char *body;     /* PyBytes_AS_STRING(buf) + 4 */
    Py_ssize_t cap; /* body capacity */
    Py_ssize_t pos;
} Writer;

static int w_reserve(Writer *w, Py_ssize_t n) {
    if (n > PY_SSIZE_T_MAX - w->pos - 4) {
        PyErr_NoMemory();
        return -1;
    }
    if (w->pos + n <= w->cap)
        return 0;
    Py_ssize_t cap = w->cap * 2;
    if (cap < w->pos + n)
        cap = w->pos + n;
    if (_PyBytes_Resize(&w->buf, cap + 4) < 0)
        return -1;
    w->body = PyBytes_AS_STRING(w->buf) + 4;
    w->cap = cap;
    return 0;
}

static inline int w_align(Writer *w, int a) {
    if (a <= 1)
        return 0;
    Py_ssize_t to = (w->pos + a - 1) & -(Py_ssize_t)a;
    if (to != w->pos) {
        if (w_reserve(w, to - w->pos) < 0)
            return -1;
        memset(w->body + w->pos, 0, (size_t)(to - w->pos));
        w->pos = to;
    }
    return 0;
}

static int w_u32(Writer *w, uint32_t v) {
    if (w_reserve(w, 4) < 0)
        return -1;
    memcpy(w->body + w->pos, &v, 4);
    w->pos += 4;
    return 0;
}

/* Re-raise the current exception as `type` with the field's label in front. */
static void field_error(const Field *f, PyObject *type, const char *what) {
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyErr_NormalizeException(&et, &ev, &tb);
    if (ev != NULL)
        PyErr_Format(type, "%U: %s (%S)", f->label, what, ev);
    else
        PyErr_Format(type, "%U: %s", f->label, what);
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(tb);
}

/* One scalar of primitive `prim` from `v` into `out`, with struct.pack's rules (rosbags packs with struct). */
static int pack_prim(const Field *f, int prim, PyObject *v, char *out) {
    if (prim == P_BOOL) {
        int t = PyObject_IsTrue(v);
        if (t < 0) {
            field_error(f, PyExc_TypeError, "expected a bool");
            return -1;
        }
        out[0] = (char)t;
        return 0;
    }
    if (prim == P_FLOAT32 || prim == P_FLOAT64) {
        double x = PyFloat_CheckExact(v) ? PyFloat_AS_DOUBLE(v) : PyFloat_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred()) {
            field_error(f, PyErr_ExceptionMatches(PyExc_TypeError) ? PyExc_TypeError : PyExc_ValueError,
                        "expected a float");
            return -1;
        }
        if (prim == P_FLOAT64) {
            memcpy(out, &x, 8);
        } else {
            float y = (float)x;
            if (isinf(y) && !isinf(x)) {
                PyErr_Format(PyExc_ValueError, "%U: %R is out of range for float32", f->label, v);
                return -1;
            }
            memcpy(out, &y, 4);
        }
        return 0;
    }
    PyObject *idx = PyLong_CheckExact(v) ? (Py_INCREF(v), v) : PyNumber_Index(v);
    if (idx == NULL) {
        field_error(f, PyExc_TypeError, "expected an int");
        return -1;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(idx, &overflow);
    if (x == -1 && PyErr_Occurred()) {
        Py_DECREF(idx);
        return -1;
    }
    if (prim == P_UINT64) {
        unsigned long long u = (unsigned long long)x;
        if (overflow > 0) {
            u = PyLong_AsUnsignedLongLong(idx);
            if (u == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                overflow = 2;
            } else {
                overflow = 0;
            }
        } else if (overflow == 0 && x < 0) {
            overflow = 2;
        }
        Py_DECREF(idx);
        if (overflow) {
            PyErr_Format(PyExc_ValueError, "%U: %R is out of range for uint64", f->label, v);
            return -1;
        }
        memcpy(out, &u, 8);
        return 0;
    }
    Py_DECREF(idx);
    if (overflow || x < PRIM_MIN[prim] || x > PRIM_MAX[prim]) {
        PyErr_Format(PyExc_ValueError, "%U: %R is out of range for %s", f->label, v, PRIM_NAME[prim]);
        return -1;
    }
    switch (PRIM_SIZE[prim]) {
    case 1: { int8_t b = (int8_t)x; memcpy(out, &b, 1); break; }
    case 2: { int16_t b = (int16_t)x; memcpy(out, &b, 2); break; }
    case 4: { int32_t b = (int32_t)x; memcpy(out, &b, 4); break; }
    default: memcpy(out, &x, 8);
    }
    return 0;
}

static int w_string(Writer *w, const Field *f, PyObject *v) {
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%U: expected a str, got %.100s", f->label, Py_TYPE(v)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(v, &n);
    if (s == NULL) {
        field_error(f, PyExc_ValueError, "not encodable as UTF-8");
        return -1;
    }
    if (n >= 0x7fffffff) {
        PyErr_Format(PyExc_ValueError, "%U: string too long for CDR", f->label);
        return -1;
    }
    if (w_reserve(w, n + 5) < 0)
        return -1;
    uint32_t len = (uint32_t)n + 1;
    memcpy(w->body + w->pos, &len, 4);
    memcpy(w->body + w->pos + 4, s, (size_t)n);
    w->body[w->pos + 4 + n] = 0;
    w->pos += n + 5;
    return 0;
}

/* A numeric array: a numpy array (its values; rosbags writes the raw bytes of `val.view(numpy.uint8)`, which
 * turns an int64 array in a float64 field into bit patterns: here it is cast, or a TypeError), or a list/tuple
 * of numbers. `fixed`: the field's length (-1 for a sequence, whose length is written). */
static int w_numeric(Writer *w, const Field *f, PyObject *v, Py_ssize_t fixed) {
    int prim = f->prim, size = PRIM_SIZE[prim];
    Py_ssize_t n;
    if (PyArray_Check(v)) {
        PyArrayObject *a = (PyArrayObject *)v;
        if (PyArray_NDIM(a) != 1) {
            PyErr_Format(PyExc_ValueError, "%U: expected a 1-d array of %s, got a %d-d array", f->label,
                         PRIM_NAME[prim], PyArray_NDIM(a));
            return -1;
        }
        n = PyArray_DIM(a, 0);
    } else if (PyList_Check(v) || PyTuple_Check(v)) {
        n = PySequence_Fast_GET_SIZE(v);
    } else {
        PyErr_Format(PyExc_TypeError, "%U: expected a numpy array (or list) of %s, got %.100s", f->label,
                     PRIM_NAME[prim], Py_TYPE(v)->tp_name);
        return -1;
    }
    if (fixed >= 0 && n != fixed) {
        PyErr_Format(PyExc_ValueError, "%U: expected %zd elements, got %zd", f->label, fixed, n);
        return -1;
    }
    if (fixed < 0) {
        if (n > 0x7fffffff) {
            PyErr_Format(PyExc_ValueError, "%U: sequence too long for CDR", f->label);
            return -1;
        }
        if (w_u32(w, (uint32_t)n) < 0)
            return -1;
        if (n && w_align(w, f->elem_align) < 0)
            return -1;
    }
    Py_ssize_t nbytes = n * size;
    if (w_reserve(w, nbytes) < 0)
        return -1;
    char *out = w->body + w->pos;
    if (PyArray_Check(v)) {
        PyArrayObject *a = (PyArrayObject *)v;
        PyArray_Descr *d = PyArray_DESCR(a);
        if (d->kind == PRIM_KIND[prim] && PyArray_ITEMSIZE(a) == size && PyArray_ISNOTSWAPPED(a) &&
            PyArray_IS_C_CONTIGUOUS(a)) {  /* the common case: the field's own dtype */
            if (nbytes)
                memcpy(out, PyArray_DATA(a), (size_t)nbytes);
        } else {  /* other strides, byte order or dtype: the values, cast as numpy's same_kind casting allows */
            if (!PyArray_CanCastTypeTo(d, DESCR(f), NPY_SAME_KIND_CASTING)) {
                PyErr_Format(PyExc_TypeError, "%U: expected %s values, got an array of dtype %S (convert it "
                             "with .astype(numpy.%s))", f->label, PRIM_NAME[prim], (PyObject *)d,
                             NUMPY_NAME[prim]);
                return -1;
            }
            Py_INCREF(DESCR(f));
            PyArrayObject *c = (PyArrayObject *)PyArray_FromArray(a, DESCR(f), NPY_ARRAY_C_CONTIGUOUS |
                                                                  NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
            if (c == NULL)
                return -1;
            if (PyArray_SIZE(c) != n) {
                Py_DECREF(c);
                PyErr_Format(PyExc_RuntimeError, "%U: the array changed size while being serialized", f->label);
                return -1;
            }
            if (nbytes)
                memcpy(w->body + w->pos, PyArray_DATA(c), (size_t)nbytes);
            Py_DECREF(c);
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (i >= PySequence_Fast_GET_SIZE(v)) {
                PyErr_Format(PyExc_RuntimeError, "%U: the list changed size while being serialized", f->label);
                return -1;
            }
            PyObject *item = PySequence_Fast_GET_ITEM(v, i);
            Py_INCREF(item);
            int r = pack_prim(f, prim, item, w->body + w->pos + i * size);
            Py_DECREF(item);
            if (r < 0)
                return -1;
        }
    }
    w->pos += nbytes;
    return 0;
}

static int w_message(Writer *w, const Plan *p, PyObject *msg);

/* Elements of a string/nested array or sequence: `fixed` >= 0 for arrays (indexed), -1 for sequences. */
static int w_elements(Writer *w, const Field *f, PyObject *v, Py_ssize_t fixed) {
    int strings = f->kind == K_ARR_STR || f->kind == K_SEQ_STR;
    PyObject *seq = PySequence_Fast(v, "");
    if (seq == NULL) {
        PyErr_Format(PyExc_TypeError, "%U: expected a list of %s, got %.100s", f->label,
                     strings ? "str" : PyUnicode_AsUTF8(SUB(f)->typename), Py_TYPE(v)->tp_name);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int rc = -1;
    if (fixed >= 0 && n != fixed) {
        PyErr_Format(PyExc_ValueError, "%U: expected %zd elements, got %zd", f->label, fixed, n);
        goto done;
    }
    if (fixed < 0) {
        if (n > 0x7fffffff) {
            PyErr_Format(PyExc_ValueError, "%U: sequence too long for CDR", f->label);
            goto done;
        }
        if (w_u32(w, (uint32_t)n) < 0)
            goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= PySequence_Fast_GET_SIZE(seq)) {
            PyErr_Format(PyExc_RuntimeError, "%U: the list changed size while being serialized", f->label);
            goto done;
        }
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (w_align(w, strings ? 4 : f->elem_align) < 0)
            goto done;
        Py_INCREF(item);
        int r = strings ? w_string(w, f, item) : w_message(w, SUB(f), item);
        Py_DECREF(item);
        if (r < 0)
            goto done;
    }
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

static int w_message(Writer *w, const Plan *p, PyObject *msg) {
    for (Py_ssize_t i = 0; i < p->nfields; i++) {
        const Field *f = &p->fields[i];
        PyObject *v = PyObject_GetAttr(msg, f->name);
        if (v == NULL) {
            field_error(f, PyExc_TypeError, "missing");
            return -1;
        }
        int r;
        switch (f->kind) {
        case K_SCALAR:
            r = w_reserve(w, PRIM_SIZE[f->prim]);
            if (r == 0)
                r = pack_prim(f, f->prim, v, w->body + w->pos);
            if (r == 0)
                w->pos += PRIM_SIZE[f->prim];
            break;
        case K_STRING: r = w_string(w, f, v); break;
        case K_NESTED: r = w_message(w, SUB(f), v); break;
        case K_ARR_PRIM: r = w_numeric(w, f, v, f->count); break;
        case K_SEQ_PRIM: r = w_numeric(w, f, v, -1); break;
        case K_ARR_STR: case K_ARR_NESTED: r = w_elements(w, f, v, f->count); break;
        default: r = w_elements(w, f, v, -1); break;
        }
        Py_DECREF(v);
        if (r < 0 || w_align(w, f->post_align) < 0)
            return -1;
    }
    return 0;
}

static PyObject *plan_serialize(Plan *self, PyObject *msg) {
    Writer w;
    w.cap = self->size_hint > 0 ? self->size_hint : 64;
    w.buf = PyBytes_FromStringAndSize(NULL, w.cap + 4);
    if (w.buf == NULL)
        return NULL;
    char *head = PyBytes_AS_STRING(w.buf);
    head[0] = 0, head[1] = 1, head[2] = 0, head[3] = 0;
    w.body = head + 4;
    w.pos = 0;
    if (w_message(&w, self, msg) < 0) {
        Py_XDECREF(w.buf);
        return NULL;
    }
    self->size_hint = w.pos;
    if (w.pos != w.cap && _PyBytes_Resize(&w.buf, w.pos + 4) < 0)
        return NULL;
    return w.buf;
}

/* ---------------------------------------------------------------------------------------- deserialize */

typedef struct {
    const char *body;   /* the CDR body (after the 4-byte header) */
    Py_ssize_t len;     /* its length */
    Py_ssize_t pos;
    PyObject *owner;    /* what numpy views keep alive: the bytes, or a memoryview of another buffer */
    int writeable;
    const Plan *top;
    Py_ssize_t total;   /* length with the header, for messages */
} Reader;

static PyObject *bad(Reader *r, const char *fmt, ...) {
    va_list va;
    va_start(va, fmt);
    PyObject *detail = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    if (detail != NULL) {
        PyErr_Format(PyExc_ValueError, "cannot deserialize %zd bytes as %U: %U", r->total, r->top->typename,
                     detail);
        Py_DECREF(detail);
    }
    return NULL;
}

static inline Py_ssize_t r_align(Py_ssize_t pos, int a) {
    return a > 1 ? ((pos + a - 1) & -(Py_ssize_t)a) : pos;
}

static int r_u32(Reader *r, const Field *f, uint32_t *out) {
    if (r->pos < 0 || r->pos > r->len - 4) {
        bad(r, "%U: truncated at offset %zd", f->label, r->pos);
        return -1;
    }
    memcpy(out, r->body + r->pos, 4);
    r->pos += 4;
    return 0;
}

static PyObject *r_prim(Reader *r, const Field *f, int prim) {
    if (r->pos > r->len - PRIM_SIZE[prim])
        return bad(r, "%U: truncated at offset %zd", f->label, r->pos);
    const char *s = r->body + r->pos;
    r->pos += PRIM_SIZE[prim];
    switch (prim) {
    case P_BOOL: return PyBool_FromLong(s[0] != 0);
    case P_BYTE: case P_INT8: return PyLong_FromLong((int8_t)s[0]);
    case P_CHAR: case P_UINT8: return PyLong_FromLong((uint8_t)s[0]);
    case P_INT16: { int16_t x; memcpy(&x, s, 2); return PyLong_FromLong(x); }
    case P_UINT16: { uint16_t x; memcpy(&x, s, 2); return PyLong_FromLong(x); }
    case P_INT32: { int32_t x; memcpy(&x, s, 4); return PyLong_FromLong(x); }
    case P_UINT32: { uint32_t x; memcpy(&x, s, 4); return PyLong_FromUnsignedLong(x); }
    case P_INT64: { int64_t x; memcpy(&x, s, 8); return PyLong_FromLongLong(x); }
    case P_UINT64: { uint64_t x; memcpy(&x, s, 8); return PyLong_FromUnsignedLongLong(x); }
    case P_FLOAT32: { float x; memcpy(&x, s, 4); return PyFloat_FromDouble(x); }
    default: { double x; memcpy(&x, s, 8); return PyFloat_FromDouble(x); }
    }
}

static PyObject *r_string(Reader *r, Field *f, Py_ssize_t slot) {
    uint32_t n;
    Py_ssize_t at = r->pos;
    if (r_u32(r, f, &n) < 0)
        return NULL;
    if (n < 1 || (Py_ssize_t)n > r->len - r->pos)
        return bad(r, "%U: invalid string length %lu at offset %zd", f->label, (unsigned long)n, at);
    const char *s = r->body + r->pos;
    if (s[n - 1] != 0)
        return bad(r, "%U: missing string terminator at offset %zd", f->label, r->pos + (Py_ssize_t)n - 1);
    Py_ssize_t len = (Py_ssize_t)n - 1;
    PyObject **cached = slot < STRING_CACHE && len <= STRING_CACHE_MAX_LEN ? &f->strings[slot] : NULL;
    if (cached != NULL && *cached != NULL && PyUnicode_GET_LENGTH(*cached) == len &&
        memcmp(PyUnicode_DATA(*cached), s, (size_t)len) == 0) {
        r->pos += n;
        Py_INCREF(*cached);
        return *cached;
    }
    PyObject *str = PyUnicode_DecodeUTF8(s, len, NULL);
    if (str == NULL) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyErr_NormalizeException(&et, &ev, &tb);
        bad(r, "%U: invalid UTF-8 (%S)", f->label, ev ? ev : Py_None);
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
        return NULL;
    }
    r->pos += n;
    if (cached != NULL && PyUnicode_IS_ASCII(str)) {  /* ASCII: its data are the bytes just compared */
        Py_INCREF(str);
        Py_XSETREF(*cached, str);
    }
    return str;
}

/* A numpy view of `n` elements at the current position (numpy.frombuffer's checks). */
static PyObject *r_array(Reader *r, const Field *f, Py_ssize_t n) {
    int size = PRIM_SIZE[f->prim];
    if (r->pos > r->len || n > (r->len - r->pos) / size)
        return bad(r, "%U: %zd %s values do not fit at offset %zd", f->label, n, PRIM_NAME[f->prim], r->pos);
    npy_intp dims[1] = {(npy_intp)n};
    Py_INCREF(DESCR(f));
    PyObject *a = PyArray_NewFromDescr(&PyArray_Type, DESCR(f), 1, dims, NULL, (void *)(r->body + r->pos),
                                       r->writeable ? NPY_ARRAY_WRITEABLE : 0, NULL);
    if (a == NULL)
        return NULL;
    Py_INCREF(r->owner);
    if (PyArray_SetBaseObject((PyArrayObject *)a, r->owner) < 0) {  /* steals the reference */
        Py_DECREF(a);
        return NULL;
    }
    r->pos += n * size;
    return a;
}

/* The element count of a sequence, checked as rosbags does: `minimum` bytes per element must fit. */
static int r_count(Reader *r, const Field *f, Py_ssize_t minimum, Py_ssize_t *out) {
    uint32_t n;
    if (r_u32(r, f, &n) < 0)
        return -1;
    if ((unsigned long long)n > r->top->max_sequence || (Py_ssize_t)n > (r->len - r->pos) / minimum) {
        bad(r, "%U: invalid sequence length %lu at offset %zd", f->label, (unsigned long)n, r->pos);
        return -1;
    }
    *out = (Py_ssize_t)n;
    return 0;
}

static PyObject *r_message(Reader *r, Plan *p);

static PyObject *r_elements(Reader *r, Field *f, Py_ssize_t n, int sequence) {
    int strings = f->kind == K_ARR_STR || f->kind == K_SEQ_STR;
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (strings) {
            if (sequence || i)
                r->pos = r_align(r->pos, 4);
        } else {
            r->pos = r_align(r->pos, f->elem_align);
        }
        PyObject *item = strings ? r_string(r, f, i) : r_message(r, SUB(f));
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static PyObject *r_field(Reader *r, Field *f) {
    Py_ssize_t n;
    switch (f->kind) {
    case K_SCALAR: return r_prim(r, f, f->prim);
    case K_STRING: return r_string(r, f, 0);
    case K_NESTED: return r_message(r, SUB(f));
    case K_ARR_PRIM: return r_array(r, f, f->count);
    case K_SEQ_PRIM:
        if (r_count(r, f, PRIM_SIZE[f->prim], &n) < 0)
            return NULL;
        if (n)
            r->pos = r_align(r->pos, f->elem_align);
        return r_array(r, f, n);
    case K_ARR_STR: case K_ARR_NESTED: return r_elements(r, f, f->count, 0);
    case K_SEQ_STR:
        if (r_count(r, f, 5, &n) < 0)
            return NULL;
        return r_elements(r, f, n, 1);
    default:
        if (r_count(r, f, 1, &n) < 0)
            return NULL;
        return r_elements(r, f, n, 1);
    }
}

static PyObject *r_message(Reader *r, Plan *p) {
    PyObject *stack[16], **vals = stack, *msg = NULL;
    Py_ssize_t i, done = 0;
    if (p->nfields > 16) {
        vals = PyMem_Malloc(sizeof(PyObject *) * (size_t)p->nfields);
        if (vals == NULL)
            return PyErr_NoMemory();
    }
    for (; done < p->nfields; done++) {
        Field *f = &p->fields[done];
        vals[done] = r_field(r, f);
        if (vals[done] == NULL)
            goto out;
        r->pos = r_align(r->pos, f->post_align);
    }
    if (p->fast_new) {  /* what cls(*values) does, without running the dataclass' __init__ */
        msg = p->cls->tp_new(p->cls, empty_tuple, NULL);
        for (i = 0; msg != NULL && i < p->nfields + p->nextras; i++) {
            int rc = i < p->nfields ? PyObject_GenericSetAttr(msg, p->fields[i].name, vals[i])
                                    : PyObject_GenericSetAttr(msg, p->extra_names[i - p->nfields],
                                                              p->extra_values[i - p->nfields]);
            if (rc < 0)
                Py_CLEAR(msg);
        }
    } else {
        msg = PyObject_Vectorcall((PyObject *)p->cls, vals, (size_t)p->nfields, NULL);
    }
out:
    for (i = 0; i < done; i++)
        Py_DECREF(vals[i]);
    if (vals != stack)
        PyMem_Free(vals);
    return msg;
}

static PyObject *plan_deserialize(Plan *self, PyObject *data) {
    Reader r;
    Py_buffer *view = NULL;
    PyObject *mv = NULL;
    const char *raw;
    if (PyBytes_CheckExact(data)) {
        raw = PyBytes_AS_STRING(data);
        r.total = PyBytes_GET_SIZE(data);
        r.owner = data;
        r.writeable = 0;
    } else {
        mv = PyMemoryView_FromObject(data);
        if (mv == NULL)
            return NULL;
        view = PyMemoryView_GET_BUFFER(mv);
        if (!PyBuffer_IsContiguous(view, 'C') || view->itemsize != 1) {
            Py_DECREF(mv);
            PyErr_Format(PyExc_TypeError, "%U: expected bytes, got a buffer that is not contiguous bytes",
                         self->typename);
            return NULL;
        }
        raw = view->buf;
        r.total = view->len;
        r.owner = mv;
        r.writeable = !view->readonly;
    }
    if (r.total < 4 || raw[0] != 0 || raw[1] != 1) {
        PyObject *head = PyBytes_FromStringAndSize(raw, r.total < 4 ? r.total : 4);
        PyObject *hex = head ? PyObject_CallMethod(head, "hex", NULL) : NULL;
        if (hex != NULL)
            PyErr_Format(PyExc_ValueError, "not little-endian CDR for %U: header %s", self->typename,
                         PyUnicode_GET_LENGTH(hex) ? PyUnicode_AsUTF8(hex) : "missing");
        Py_XDECREF(hex);
        Py_XDECREF(head);
        Py_XDECREF(mv);
        return NULL;
    }
    r.body = raw + 4;
    r.len = r.total - 4;
    r.pos = 0;
    r.top = self;
    PyObject *msg = r_message(&r, self);
    if (msg != NULL && r.pos + 4 + 3 < r.total) {
        PyErr_Format(PyExc_ValueError, "%zd bytes are too many for %U (%zd used)", r.total, self->typename,
                     r.pos + 4);
        Py_CLEAR(msg);
    }
    Py_XDECREF(mv);
    return msg;
}

/* ----------------------------------------------------------------------------------------------- Plan */

static void plan_clear_fields(Plan *self) {
    for (Py_ssize_t i = 0; self->fields != NULL && i < self->nfields; i++) {
        Field *f = &self->fields[i];
        Py_XDECREF(f->name);
        Py_XDECREF(f->label);
        Py_XDECREF((PyObject *)f->sub_or_descr);
        for (int j = 0; f->strings != NULL && j < STRING_CACHE; j++)
            Py_XDECREF(f->strings[j]);
        PyMem_Free(f->strings);
    }
    PyMem_Free(self->fields);
    self->fields = NULL;
    for (Py_ssize_t i = 0; self->extra_names != NULL && i < self->nextras; i++) {
        Py_XDECREF(self->extra_names[i]);
        Py_XDECREF(self->extra_values[i]);
    }
    PyMem_Free(self->extra_names);
    PyMem_Free(self->extra_values);
    self->extra_names = self->extra_values = NULL;
}

static void plan_dealloc(Plan *self) {
    plan_clear_fields(self);
    Py_XDECREF(self->typename);
    Py_XDECREF((PyObject *)self->cls);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *interned(PyObject *s) {
    Py_INCREF(s);
    PyUnicode_InternInPlace(&s);
    return s;
}

/* Plan(typename, cls, fast_new, fields, extras, max_sequence)
 * fields: tuple of (name, label, kind, prim, count, elem_align, post_align, sub Plan | None, dtype | None);
 * extras: tuple of (name, default) set after the fields when fast_new. */
static PyObject *plan_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *typename, *cls, *fields, *extras;
    int fast_new;
    unsigned long long max_sequence;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Plan() takes positional arguments only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "UO!pO!O!K", &typename, &PyType_Type, &cls, &fast_new, &PyTuple_Type, &fields,
                          &PyTuple_Type, &extras, &max_sequence))
        return NULL;
    Plan *self = (Plan *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(typename);
    self->typename = typename;
    Py_INCREF(cls);
    self->cls = (PyTypeObject *)cls;
    self->fast_new = fast_new;
    self->max_sequence = max_sequence;
    Py_ssize_t n = PyTuple_GET_SIZE(fields), m = PyTuple_GET_SIZE(extras);
    self->fields = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Field));
    self->extra_names = PyMem_Calloc(m ? (size_t)m : 1, sizeof(PyObject *));
    self->extra_values = PyMem_Calloc(m ? (size_t)m : 1, sizeof(PyObject *));
    if (self->fields == NULL || self->extra_names == NULL || self->extra_values == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->nfields = n;
    self->nextras = m;
    for (Py_ssize_t i = 0; i < n; i++) {
        Field *f = &self->fields[i];
        PyObject *name, *label, *sub, *descr;
        int kind, prim, elem_align, post_align;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(fields, i), "UUiiniiOO", &name, &label, &kind, &prim, &f->count,
                              &elem_align, &post_align, &sub, &descr))
            goto fail;
        f->name = interned(name);
        Py_INCREF(label);
        f->label = label;
        if (kind < 0 || kind >= K_COUNT || prim < 0 || prim >= P_COUNT || f->count < 0 || elem_align < 0 ||
            elem_align > 16 || post_align < 0 || post_align > 16) {
            PyErr_Format(PyExc_ValueError, "%U: invalid plan entry", label);
            goto fail;
        }
        f->kind = (unsigned char)kind, f->prim = (unsigned char)prim;
        f->elem_align = (unsigned char)elem_align, f->post_align = (unsigned char)post_align;
        if (kind == K_STRING || kind == K_ARR_STR || kind == K_SEQ_STR) {
            f->strings = PyMem_Calloc(STRING_CACHE, sizeof(PyObject *));
            if (f->strings == NULL) {
                PyErr_NoMemory();
                goto fail;
            }
        }
        int nested = f->kind == K_NESTED || f->kind == K_ARR_NESTED || f->kind == K_SEQ_NESTED;
        int numeric = f->kind == K_ARR_PRIM || f->kind == K_SEQ_PRIM;
        if (nested != (sub != Py_None) || (nested && !PyObject_TypeCheck(sub, &PlanType)) ||
            numeric != (descr != Py_None) || (numeric && !PyArray_DescrCheck(descr))) {
            PyErr_Format(PyExc_TypeError, "%U: invalid plan entry", label);
            goto fail;
        }
        f->sub_or_descr = nested ? sub : numeric ? descr : NULL;
        Py_XINCREF((PyObject *)f->sub_or_descr);
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *name, *value;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(extras, i), "UO", &name, &value))
            goto fail;
        self->extra_names[i] = interned(name);
        Py_INCREF(value);
        self->extra_values[i] = value;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static PyObject *plan_get_typename(Plan *self, void *closure) {
    (void)closure;
    Py_INCREF(self->typename);
    return self->typename;
}

static PyObject *plan_repr(Plan *self) {
    return PyUnicode_FromFormat("<cdr Plan %U>", self->typename);
}

static PyMethodDef plan_methods[] = {
    {"serialize", (PyCFunction)plan_serialize, METH_O,
     "CDR bytes (little-endian, with the 00 01 00 00 header) of a message."},
    {"deserialize", (PyCFunction)plan_deserialize, METH_O,
     "The message in CDR bytes; ValueError on a wrong header, truncated or malformed data."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef plan_getset[] = {
    {"typename", (getter)plan_get_typename, NULL, "the ROS type name", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_cdr.Plan",
    .tp_basicsize = sizeof(Plan),
    .tp_dealloc = (destructor)plan_dealloc,
    .tp_repr = (reprfunc)plan_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The CDR codec of one message type.",
    .tp_methods = plan_methods,
    .tp_getset = plan_getset,
    .tp_new = plan_new,
};

static struct PyModuleDef cdr_module = {
    PyModuleDef_HEAD_INIT, "_cdr", "Compiled CDR codec for rosbags message objects.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cdr(void) {
    import_array();
    if (PyType_Ready(&PlanType) < 0)
        return NULL;
    empty_tuple = PyTuple_New(0);
    if (empty_tuple == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&cdr_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&PlanType);
    if (PyModule_AddObject(m, "Plan", (PyObject *)&PlanType) < 0) {
        Py_DECREF(&PlanType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
