/* yamlstats._yamlstats: walk a YAML text with libyaml's event parser and count what it holds. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <yaml.h>

static PyObject *stats(PyObject *self, PyObject *args) {
    const char *text;
    Py_ssize_t length;
    if (!PyArg_ParseTuple(args, "s#", &text, &length)) {
        return NULL;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        return PyErr_NoMemory();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, (size_t)length);

    long documents = 0, mappings = 0, sequences = 0, scalars = 0;
    int ok = 1, done = 0;
    Py_BEGIN_ALLOW_THREADS
    while (!done) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            ok = 0;
            break;
        }
        switch (event.type) {
        case YAML_DOCUMENT_START_EVENT: documents++; break;
        case YAML_MAPPING_START_EVENT: mappings++; break;
        case YAML_SEQUENCE_START_EVENT: sequences++; break;
        case YAML_SCALAR_EVENT: scalars++; break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        yaml_event_delete(&event);
    }
    Py_END_ALLOW_THREADS

    if (!ok) {
        PyErr_Format(PyExc_ValueError, "not valid YAML: %s (line %lu)",
                     parser.problem ? parser.problem : "parse error",
                     (unsigned long)parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_parser_delete(&parser);
    return Py_BuildValue("{s:l,s:l,s:l,s:l}", "documents", documents, "mappings", mappings,
                         "sequences", sequences, "scalars", scalars);
}

static PyObject *libyaml_version(PyObject *self, PyObject *unused) {
    return PyUnicode_FromString(yaml_get_version_string());
}

static PyMethodDef methods[] = {
    {"stats", stats, METH_VARARGS, "stats(text) -> dict: documents, mappings, sequences, scalars."},
    {"libyaml_version", libyaml_version, METH_NOARGS, "The version of the libyaml this module loaded."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_yamlstats", NULL, -1, methods};

PyMODINIT_FUNC PyInit__yamlstats(void) { return PyModule_Create(&module); }
