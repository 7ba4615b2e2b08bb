/* count_words(text) -> number of whitespace-separated words, like len(text.split()). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *count_words(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "count_words() expects a str");
        return NULL;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(arg), words = 0;
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    int in_word = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        /* Py_UNICODE_ISSPACE matches str.split(): Unicode spaces count, not just ASCII. */
        int space = Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i));
        if (!space && !in_word) words++;
        in_word = !space;
    }
    return PyLong_FromSsize_t(words);
}

static PyMethodDef methods[] = {
    {"count_words", count_words, METH_O, "Number of whitespace-separated words in a str."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wordcount", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wordcount(void) { return PyModule_Create(&module); }
