/*
 * conf/conf_int.h - the parameter table behind struct conf.
 */
#ifndef CONF_INT_H
#define CONF_INT_H

#include <stddef.h>

/* CONF_PATH: a program run in the jail, whose working directory is its private directory: an
 * absolute path, or one of the words in choices. */
typedef enum { CONF_STRING, CONF_UINT, CONF_SIZE, CONF_BOOL, CONF_PATH } conf_type;

typedef struct conf_param {
    const char *group;
    const char *key;
    conf_type type;
    const char *def;   /* default, as written in the file */
    unsigned long min; /* bounds for numbers */
    unsigned long max;
    const char *choices; /* "a|b|c" for strings with a fixed set of values (for paths: the
                            words allowed besides an absolute path), else NULL */
    size_t offset;       /* into struct conf */
    const char *doc;     /* one line */
} conf_param;

extern const conf_param conf_params[];
extern const size_t conf_nparams;

#endif
