/* base/tk_err.c: the error list's names and texts, and the errno mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <errno.h>
#include <string.h>

#include "base_tests.h"
#include "tk.h"

/* The list as the header spells it, built from the same X-macro: code, name and text. */
typedef struct err_entry {
    tk_err code;
    const char *name;
    const char *text;
} err_entry;

static const err_entry err_table[] = {
#define ERR_ENTRY(code, text) {code, #code, text},
    TK_ERR_LIST(ERR_ENTRY)
#undef ERR_ENTRY
};

#define ERR_TABLE_COUNT (sizeof(err_table) / sizeof(err_table[0]))

static void test_err_list_is_dense(void **state)
{
    (void)state;
    assert_int_equal(ERR_TABLE_COUNT, TK_ERR_COUNT_);
    assert_int_equal(TK_OK, 0);
    for (size_t i = 0; i < ERR_TABLE_COUNT; i++) {
        assert_int_equal(err_table[i].code, i);
    }
}

static void test_err_name_and_text_of_every_code(void **state)
{
    (void)state;
    for (int i = 0; i < (int)TK_ERR_COUNT_; i++) {
        tk_err err = (tk_err)i;
        const char *name = tk_err_name(err);
        const char *text = tk_err_str(err);
        assert_non_null(name);
        assert_non_null(text);
        assert_string_equal(name, err_table[i].name);
        assert_string_equal(text, err_table[i].text);
        assert_true(strlen(text) > 0);
        assert_true(strncmp(name, "TK_", 3) == 0);
        assert_true(strlen(name) > 3);
    }
    assert_string_equal(tk_err_name(TK_EFULL), "TK_EFULL");
    assert_string_equal(tk_err_str(TK_EFULL), "queue or pool full");
    assert_string_equal(tk_err_name(TK_OK), "TK_OK");
    assert_string_equal(tk_err_str(TK_OK), "ok");
}

static void test_err_names_and_texts_are_distinct(void **state)
{
    (void)state;
    for (int i = 0; i < (int)TK_ERR_COUNT_; i++) {
        for (int j = i + 1; j < (int)TK_ERR_COUNT_; j++) {
            const char *name_i = tk_err_name((tk_err)i);
            const char *name_j = tk_err_name((tk_err)j);
            const char *text_i = tk_err_str((tk_err)i);
            const char *text_j = tk_err_str((tk_err)j);
            if (strcmp(name_i, name_j) == 0)
                fail_msg("codes %d and %d share name %s", i, j, name_i);
            if (strcmp(text_i, text_j) == 0)
                fail_msg("codes %d and %d share text %s", i, j, text_i);
        }
    }
}

static void test_err_out_of_range(void **state)
{
    (void)state;
    const unsigned bad[] = {(unsigned)TK_ERR_COUNT_, (unsigned)TK_ERR_COUNT_ + 1u, 1000u,
                            (unsigned)INT32_MAX, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tk_err err = (tk_err)bad[i];
        assert_string_equal(tk_err_str(err), "unknown error");
        assert_string_equal(tk_err_name(err), "TK_E?");
    }
}

typedef struct errno_case {
    int errnum;
    const char *errname;
    tk_err want;
} errno_case;

#define ERRNO_CASE(e, want) \
    {                       \
        e, #e, want         \
    }

static void test_err_from_errno(void **state)
{
    (void)state;
    const errno_case cases[] = {
        ERRNO_CASE(0, TK_OK),
        ERRNO_CASE(ENOMEM, TK_ENOMEM),
        ERRNO_CASE(ENOENT, TK_ENOENT),
        ERRNO_CASE(EEXIST, TK_EEXIST),
        ERRNO_CASE(EACCES, TK_EPERM),
        ERRNO_CASE(EPERM, TK_EPERM),
        ERRNO_CASE(EAGAIN, TK_EAGAIN),
        ERRNO_CASE(EWOULDBLOCK, TK_EAGAIN),
        ERRNO_CASE(ETIMEDOUT, TK_ETIMEDOUT),
        ERRNO_CASE(ENOSPC, TK_ENOSPC),
        ERRNO_CASE(EINVAL, TK_EINVAL),
        ERRNO_CASE(EOVERFLOW, TK_EOVERFLOW), /* the header's "closer code" rule */
        ERRNO_CASE(ECANCELED, TK_ECANCELED),
        ERRNO_CASE(EIO, TK_EIO),
        ERRNO_CASE(EXDEV, TK_EIO), /* unmapped: no closer code */
        ERRNO_CASE(EPIPE, TK_EIO),
        ERRNO_CASE(4000, TK_EIO), /* not an errno of this system at all */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tk_err got = tk_err_from_errno(cases[i].errnum);
        if (got != cases[i].want) {
            fail_msg("tk_err_from_errno(%s = %d): got %s, want %s", cases[i].errname,
                     cases[i].errnum, tk_err_name(got), tk_err_name(cases[i].want));
        }
    }
}

int tk_test_err(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_list_is_dense),
        cmocka_unit_test(test_err_name_and_text_of_every_code),
        cmocka_unit_test(test_err_names_and_texts_are_distinct),
        cmocka_unit_test(test_err_out_of_range),
        cmocka_unit_test(test_err_from_errno),
    };
    return cmocka_run_group_tests_name("base/err", tests, NULL, NULL);
}
