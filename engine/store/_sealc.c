/* The ledger's row hashing in C: the same bytes as engine/store/ledger_rows.py, faster.
 *
 * ledger_rows.py is the definition (and what an auditor reads); this module computes exactly the
 * same values for the seal and for verify, without a Python call per row:
 *
 *   seal_rows(prefix, rows, positions, ncols, mark, dumps) -> (row_hashes: bytes, col_digests: list[str])
 *       per row: the values at `positions` replaced by their cell hash ("sha256:" + hex SHA-256 of
 *       the value's JSON, or the hash a "redacted:sha256:" marker holds), then
 *       SHA-256(prefix || JSON([rowid, c1, ...])); per column 1..ncols, the first 16 hex digits of
 *       SHA-256(JSON([v1, v2, ...])) over the encoded values (ledger_rows.col_digests).
 *   seal_inserted(...) -> the same, of the rows as the audit log inserted them, each value converted as sqlite
 *       stores it (ledger_capture.py's rule), or None when that is not certain (see the function).
 *   merkle_root(hashes) -> bytes      RFC 6962 tree head over 32-byte leaf hashes (ledger_merkle.root).
 *
 * JSON is orjson's: compact, UTF-8, `"` `\` and control characters escaped (\b \t \n \f \r, else
 * \u00xx). None, int (64-bit), str and bytes (as hex, ledger_rows._blob) are encoded here; any other
 * value (a float, an int past 64 bits, a str with a lone surrogate, a subclass) is handed to
 * `dumps` (ledger_rows.dumps, orjson itself), so a value this file does not know cannot hash
 * differently: tests/store/test_sealc.py holds both paths equal on generated rows.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_grow(Buf *b, Py_ssize_t need) {
    if (b->len + need <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + need)
        cap *= 2;
    char *p = PyMem_Realloc(b->p, (size_t)cap);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_grow(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

/* fetched once (OpenSSL 3 would otherwise look the algorithm up at every EVP_DigestInit_ex) */
static EVP_MD *SHA256_MD;
static PyObject *ORJSON_DUMPS;  /* orjson.dumps: a float's text is orjson's */
static EVP_MD_CTX *SHA256_FRESH;  /* an initialised context, copied: cheaper than EVP_DigestInit_ex */

static const char HEX[] = "0123456789abcdef";

/* 1 where orjson escapes the byte: control characters, '"' and '\' (everything else is copied). */
static unsigned char ESC[256];

static void init_esc(void) {
    for (int c = 0; c < 0x20; c++)
        ESC[c] = 1;
    ESC['"'] = ESC['\\'] = 1;
}

/* The escape of one byte that needs it, as orjson writes it. */
static inline char *put_escape(char *o, unsigned char c) {
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\b': *o++ = 'b'; break;
    case '\t': *o++ = 't'; break;
    case '\n': *o++ = 'n'; break;
    case '\f': *o++ = 'f'; break;
    case '\r': *o++ = 'r'; break;
    default:
        *o++ = 'u'; *o++ = '0'; *o++ = '0';
        *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
    }
    return o;
}

static int put_json_str(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_grow(b, n * 6 + 2) < 0)  /* worst case: every byte \u00xx; so a 16-byte store below always fits */
        return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    Py_ssize_t i = 0;
#ifdef __SSE2__
    /* 16 bytes at a time: stored whole, then kept up to the first byte that needs escaping (<= 0x1f, '"', '\\') */
    const __m128i ctl = _mm_set1_epi8(0x1f), quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    while (i + 16 <= n) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)));
        int mask = _mm_movemask_epi8(bad);
        _mm_storeu_si128((__m128i *)o, x);
        if (!mask) {
            o += 16;
            i += 16;
            continue;
        }
        int k = __builtin_ctz((unsigned)mask);
        o = put_escape(o + k, (unsigned char)s[i + k]);
        i += k + 1;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (ESC[c])
            o = put_escape(o, c);
        else
            *o++ = (char)c;
    }
    *o++ = '"';
    b->len = o - b->p;
    return 0;
}

/* A 64-bit integer in decimal, as orjson writes it. */
static int put_int(Buf *b, long long x) {
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0)
        *--p = '-';
    return buf_put(b, p, e - p);
}

/* Append the JSON of one value; -1 with an exception set on failure. */
static int put_value(Buf *b, PyObject *v, PyObject *dumps) {
    if (v == Py_None)
        return buf_put(b, "null", 4);
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (!overflow) {
            if (x == -1 && PyErr_Occurred())
                return -1;
            return put_int(b, x);
        }
    } else if (PyFloat_CheckExact(v)) {
        double x = PyFloat_AS_DOUBLE(v);
        if (x > -1e16 && x < 1e16 && x != 0 && x == (double)(long long)x) {  /* 1735689600.0, as orjson writes it; the
                                                                            * range first: NaN, inf never reach the cast */
            if (put_int(b, (long long)x) < 0)
                return -1;
            return buf_put(b, ".0", 2);
        }
        PyObject *out = PyObject_CallOneArg(ORJSON_DUMPS, v);  /* shortest round-trip, orjson's own text */
        if (!out)
            return -1;
        int rc = buf_put(b, PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out));
        Py_DECREF(out);
        return rc;
    } else if (PyUnicode_CheckExact(v)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (s)
            return put_json_str(b, s, n);
        PyErr_Clear();  /* a lone surrogate: orjson's own error, below */
    } else if (PyBytes_CheckExact(v)) {
        Py_ssize_t n = PyBytes_GET_SIZE(v);
        const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(v);
        if (buf_grow(b, 2 * n + 2) < 0)
            return -1;
        char *o = b->p + b->len;
        *o++ = '"';
        for (Py_ssize_t i = 0; i < n; i++) {
            *o++ = HEX[s[i] >> 4];
            *o++ = HEX[s[i] & 15];
        }
        *o++ = '"';
        b->len = o - b->p;
        return 0;
    }
    PyObject *out = PyObject_CallOneArg(dumps, v);
    if (!out)
        return -1;
    if (!PyBytes_Check(out)) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_TypeError, "dumps must return bytes");
        return -1;
    }
    int rc = buf_put(b, PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out));
    Py_DECREF(out);
    return rc;
}

static int sha256(EVP_MD_CTX *ctx, const EVP_MD *md, const void *a, size_t na, const void *c, size_t nc,
                  unsigned char out[32]) {
    unsigned int n = 0;
    (void)md;
    if (!EVP_MD_CTX_copy_ex(ctx, SHA256_FRESH) || !EVP_DigestUpdate(ctx, a, na) || (nc && !EVP_DigestUpdate(ctx, c, nc))
        || !EVP_DigestFinal_ex(ctx, out, &n)) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL SHA-256 failed");
        return -1;
    }
    return 0;
}

/* The cell a hashed column contributes: "sha256:<hex>" (the marker's hash when redacted). */
static int put_cell(Buf *b, Buf *tmp, PyObject *v, const char *mark, Py_ssize_t nmark, PyObject *dumps,
                    EVP_MD_CTX *ctx, const EVP_MD *md) {
    char cell[7 + 64];
    memcpy(cell, "sha256:", 7);
    if (PyUnicode_CheckExact(v)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (s && n >= nmark && memcmp(s, mark, (size_t)nmark) == 0) {  /* redacted: its hash, as a str */
            if (buf_grow(tmp, 7 + n - nmark) < 0)
                return -1;
            tmp->len = 0;
            buf_put(tmp, "sha256:", 7);
            buf_put(tmp, s + nmark, n - nmark);
            return put_json_str(b, tmp->p, tmp->len);
        }
        if (!s)
            PyErr_Clear();
    }
    tmp->len = 0;
    if (put_value(tmp, v, dumps) < 0)
        return -1;
    unsigned char d[32];
    if (sha256(ctx, md, tmp->p, (size_t)tmp->len, NULL, 0, d) < 0)
        return -1;
    for (int i = 0; i < 32; i++) {
        cell[7 + 2 * i] = HEX[d[i] >> 4];
        cell[8 + 2 * i] = HEX[d[i] & 15];
    }
    return put_json_str(b, cell, (Py_ssize_t)sizeof cell);
}

/* What one seal call shares across its rows: the buffers, the hashed columns, the per-column digests. */
typedef struct {
    Buf row, tmp;
    Buf *cols;  /* per column 1..ncols: "[" v1 "," v2 ... of the encoded values, hashed at the end */
    char *hashed;  /* per position 0..ncols: hashed on its own */
    Py_ssize_t ncols, width, nmark, done;  /* done: rows encoded so far */
    const char *mark;
    PyObject *dumps;
    EVP_MD_CTX *ctx;
    Py_buffer prefix;
} Seal;

static int seal_open(Seal *st, PyObject *positions) {
    st->ctx = EVP_MD_CTX_new();
    st->width = st->ncols + 1;
    st->hashed = PyMem_Calloc((size_t)st->width, 1);
    st->cols = PyMem_Calloc((size_t)st->width, sizeof *st->cols);
    if (!st->ctx || !st->hashed || !st->cols || st->ncols < 0) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(positions); i++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(positions, i));
        if (at < 0 || at >= st->width) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "position out of range");
            return -1;
        }
        st->hashed[at] = 1;
    }
    return 0;
}

static void seal_close(Seal *st) {
    PyBuffer_Release(&st->prefix);
    PyMem_Free(st->row.p);
    PyMem_Free(st->tmp.p);
    PyMem_Free(st->hashed);
    if (st->cols)
        for (Py_ssize_t c = 0; c < st->width; c++)
            PyMem_Free(st->cols[c].p);
    PyMem_Free(st->cols);
    EVP_MD_CTX_free(st->ctx);
}

/* One row (vals[0] the rowid, then the columns; n may exceed width): its hash into out, its cells into the digests. */
static int seal_row(Seal *st, PyObject *const *vals, Py_ssize_t n, unsigned char out[32]) {
    Buf *row = &st->row;
    row->len = 0;
    if (buf_put(row, "[", 1) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i && buf_put(row, ",", 1) < 0)
            return -1;
        Py_ssize_t start = row->len;
        int rc = i < st->width && st->hashed[i]
                     ? put_cell(row, &st->tmp, vals[i], st->mark, st->nmark, st->dumps, st->ctx, SHA256_MD)
                     : put_value(row, vals[i], st->dumps);
        if (rc < 0)
            return -1;
        if (i >= 1 && i <= st->ncols) {  /* the column digest: "[" v1 "," v2 ... "]" */
            Buf *col = &st->cols[i];
            if (buf_put(col, st->done ? "," : "[", 1) < 0 || buf_put(col, row->p + start, row->len - start) < 0)
                return -1;
        }
    }
    st->done++;
    if (buf_put(row, "]", 1) < 0)
        return -1;
    return sha256(st->ctx, SHA256_MD, st->prefix.buf, (size_t)st->prefix.len, row->p, (size_t)row->len, out);
}

/* (hashes, col_digests) once every row is in. */
static PyObject *seal_result(Seal *st, PyObject *hashes) {
    PyObject *digests = PyList_New(st->done ? st->ncols : 0);
    if (!digests)
        return NULL;
    for (Py_ssize_t c = 1; st->done && c <= st->ncols; c++) {
        unsigned char d[32];
        char hex[16];
        Buf *col = &st->cols[c];
        if (buf_put(col, "]", 1) < 0 || sha256(st->ctx, SHA256_MD, col->p, (size_t)col->len, NULL, 0, d) < 0) {
            Py_DECREF(digests);
            return NULL;
        }
        for (int i = 0; i < 8; i++) {
            hex[2 * i] = HEX[d[i] >> 4];
            hex[2 * i + 1] = HEX[d[i] & 15];
        }
        PyObject *s = PyUnicode_FromStringAndSize(hex, 16);
        if (!s) {
            Py_DECREF(digests);
            return NULL;
        }
        PyList_SET_ITEM(digests, c - 1, s);
    }
    PyObject *result = PyTuple_Pack(2, hashes, digests);
    Py_DECREF(digests);
    return result;
}

static PyObject *seal_rows(PyObject *self, PyObject *args) {
    Seal st = {0};
    PyObject *rows, *positions, *result = NULL, *hashes = NULL;
    if (!PyArg_ParseTuple(args, "y*O!O!ns#O", &st.prefix, &PyList_Type, &rows, &PyTuple_Type, &positions, &st.ncols,
                          &st.mark, &st.nmark, &st.dumps))
        return NULL;
    Py_ssize_t nrows = PyList_GET_SIZE(rows);
    if (seal_open(&st, positions) < 0 || !(hashes = PyBytes_FromStringAndSize(NULL, nrows * 32)))
        goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(hashes);
    for (Py_ssize_t r = 0; r < nrows; r++) {
        PyObject *t = PyList_GET_ITEM(rows, r);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < st.width) {
            PyErr_SetString(PyExc_ValueError, "a row is not a tuple of rowid and ncols values");
            goto done;
        }
        if (seal_row(&st, &PyTuple_GET_ITEM(t, 0), PyTuple_GET_SIZE(t), out + 32 * r) < 0)
            goto done;
    }
    result = seal_result(&st, hashes);
done:
    Py_XDECREF(hashes);
    seal_close(&st);
    return result;
}

/* A value as sqlite stores it in a column of affinity `aff` (https://sqlite.org/datatype3.html §3):
 * a new reference, or NULL when that is not certain (no exception set) or on failure (one set). */
static PyObject *stored(PyObject *v, char aff) {
    if (v == Py_None)
        return Py_NewRef(v);
    if (PyBool_Check(v)) {  /* an int to sqlite: 1 or 0, 1.0 or 0.0 in a REAL column */
        if (aff == 'T')
            return NULL;
        return aff == 'R' ? PyFloat_FromDouble(v == Py_True) : PyLong_FromLong(v == Py_True);
    }
    if (PyLong_CheckExact(v)) {
        if (aff == 'T')
            return NULL;
        if (aff != 'R')
            return Py_NewRef(v);
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || x > (1LL << 53) || x < -(1LL << 53))  /* not exactly a double: sqlite's own rounding */
            return NULL;
        return PyFloat_FromDouble((double)x);
    }
    if (PyFloat_CheckExact(v)) {
        if (aff == 'R' && PyFloat_AS_DOUBLE(v) == 0)  /* -0.0 reads back 0.0: sqlite stores it as the integer 0 */
            return PyFloat_FromDouble(0.0);
        return aff == 'R' || aff == 'B' ? Py_NewRef(v) : NULL;
    }
    if (PyUnicode_CheckExact(v) || PyBytes_CheckExact(v))
        return aff == 'T' || aff == 'B' ? Py_NewRef(v) : NULL;
    return NULL;
}

/* seal_inserted(prefix, chunks, start, affinity, positions, ncols, mark, dumps) -> (hashes, col_digests) | None
 *   the rows as the audit log inserted them (engine/store/ledger_capture.py): chunks of (columns, rows), columns
 *   giving per table column 1..ncols the index of its value in an inserted tuple, -1 for NULL (not inserted, no
 *   default), -2 for the rowid (the INTEGER PRIMARY KEY, not inserted); rowids start, start + 1, ...; affinity one letter per column (I T R N B, index 0 unused). Each
 *   value is converted as sqlite would store it; None when one cannot be sure (the caller reads the rows back). */
static PyObject *seal_inserted(PyObject *self, PyObject *args) {
    Seal st = {0};
    PyObject *chunks, *positions, *result = NULL, *hashes = NULL, **vals = NULL;
    long long start;
    const char *aff;
    Py_ssize_t naff, total = 0, got = 0, *index = NULL;
    if (!PyArg_ParseTuple(args, "y*O!Ls#O!ns#O", &st.prefix, &PyList_Type, &chunks, &start, &aff, &naff,
                          &PyTuple_Type, &positions, &st.ncols, &st.mark, &st.nmark, &st.dumps))
        return NULL;
    if (seal_open(&st, positions) < 0)
        goto done;
    if (naff != st.width) {
        PyErr_SetString(PyExc_ValueError, "one affinity per column and one for the rowid");
        goto done;
    }
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(chunks); k++) {
        PyObject *chunk = PyList_GET_ITEM(chunks, k);
        if (!PyTuple_Check(chunk) || PyTuple_GET_SIZE(chunk) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(chunk, 0))
            || PyTuple_GET_SIZE(PyTuple_GET_ITEM(chunk, 0)) != st.ncols || !PyList_Check(PyTuple_GET_ITEM(chunk, 1))) {
            PyErr_SetString(PyExc_ValueError, "a chunk is (a tuple of ncols indexes, a list of rows)");
            goto done;
        }
        total += PyList_GET_SIZE(PyTuple_GET_ITEM(chunk, 1));
    }
    vals = PyMem_Calloc((size_t)st.width, sizeof *vals);
    index = PyMem_Calloc((size_t)st.width, sizeof *index);
    if (!vals || !index || !(hashes = PyBytes_FromStringAndSize(NULL, total * 32))) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(hashes);
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(chunks); k++) {
        PyObject *chunk = PyList_GET_ITEM(chunks, k), *columns = PyTuple_GET_ITEM(chunk, 0);
        PyObject *rows = PyTuple_GET_ITEM(chunk, 1);
        for (Py_ssize_t c = 1; c <= st.ncols; c++)
            if ((index[c] = PyLong_AsSsize_t(PyTuple_GET_ITEM(columns, c - 1))) == -1 && PyErr_Occurred())
                goto done;
        for (Py_ssize_t r = 0; r < PyList_GET_SIZE(rows); r++, got++) {
            PyObject *t = PyList_GET_ITEM(rows, r);
            if (!PyTuple_Check(t)) {
                PyErr_SetString(PyExc_ValueError, "an inserted row is not a tuple");
                goto done;
            }
            int sure = 1;
            if (!(vals[0] = PyLong_FromLongLong(start + got)))
                goto done;
            for (Py_ssize_t c = 1; c <= st.ncols && sure; c++) {
                Py_ssize_t at = index[c];
                if (at >= PyTuple_GET_SIZE(t)) {
                    PyErr_SetString(PyExc_ValueError, "a column index past the inserted row");
                    goto done_row;
                }
                vals[c] = at == -1 ? Py_NewRef(Py_None) : at < 0 ? Py_NewRef(vals[0])  /* the rowid alias */
                                                                : stored(PyTuple_GET_ITEM(t, at), aff[c]);
                if (!vals[c]) {
                    if (PyErr_Occurred())
                        goto done_row;
                    sure = 0;
                }
            }
            if (sure && seal_row(&st, vals, st.width, out + 32 * got) < 0)
                sure = -1;
            for (Py_ssize_t c = 0; c < st.width; c++)
                Py_CLEAR(vals[c]);
            if (sure < 0)
                goto done;
            if (!sure) {
                result = Py_NewRef(Py_None);
                goto done;
            }
        }
    }
    result = seal_result(&st, hashes);
    goto done;
done_row:
    for (Py_ssize_t c = 0; c < st.width; c++)
        Py_CLEAR(vals[c]);
done:
    Py_XDECREF(hashes);
    PyMem_Free(vals);
    PyMem_Free(index);
    seal_close(&st);
    return result;
}

static PyObject *merkle_root(PyObject *self, PyObject *arg) {
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = in.len / 32;
    unsigned char *level = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *md = SHA256_MD;
    if (in.len % 32) {
        PyErr_SetString(PyExc_ValueError, "leaf hashes are 32 bytes each");
        goto done;
    }
    if (!ctx || !(level = PyMem_Malloc((size_t)(n ? n : 1) * 32))) {
        PyErr_NoMemory();
        goto done;
    }
    if (n == 0) {
        if (sha256(ctx, md, "", 0, NULL, 0, level) < 0)
            goto done;
        result = PyBytes_FromStringAndSize((char *)level, 32);
        goto done;
    }
    memcpy(level, in.buf, (size_t)in.len);
    while (n > 1) {
        Py_ssize_t m = 0;
        for (Py_ssize_t i = 0; i + 1 < n; i += 2, m++) {
            unsigned char node[65];
            node[0] = 1;
            memcpy(node + 1, level + 32 * i, 64);
            if (sha256(ctx, md, node, 65, NULL, 0, level + 32 * m) < 0)
                goto done;
        }
        if (n % 2)
            memmove(level + 32 * m++, level + 32 * (n - 1), 32);
        n = m;
    }
    result = PyBytes_FromStringAndSize((char *)level, 32);
done:
    PyMem_Free(level);
    EVP_MD_CTX_free(ctx);
    PyBuffer_Release(&in);
    return result;
}

static PyMethodDef methods[] = {
    {"seal_rows", seal_rows, METH_VARARGS, "Row hashes and column digests of encoded ledger rows."},
    {"seal_inserted", seal_inserted, METH_VARARGS, "seal_rows of the rows as inserted, or None when not certain."},
    {"merkle_root", merkle_root, METH_O, "RFC 6962 Merkle tree head over concatenated 32-byte leaf hashes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sealc", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sealc(void) {
    init_esc();
    if (!ORJSON_DUMPS) {
        PyObject *orjson = PyImport_ImportModule("orjson");
        if (!orjson)
            return NULL;
        ORJSON_DUMPS = PyObject_GetAttrString(orjson, "dumps");
        Py_DECREF(orjson);
        if (!ORJSON_DUMPS)
            return NULL;
    }
    if (!SHA256_MD && !(SHA256_MD = EVP_MD_fetch(NULL, "SHA2-256", NULL))) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA2-256");
        return NULL;
    }
    if (!SHA256_FRESH && (!(SHA256_FRESH = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(SHA256_FRESH, SHA256_MD, NULL))) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL SHA-256 failed to initialise");
        return NULL;
    }
    return PyModule_Create(&module);
}
