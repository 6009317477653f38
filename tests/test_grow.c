/* test_grow.c - kt_grow: room for what is asked, capacity kept when enough, overflow refused
 * with the array unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kt/grow.h"

static void test_grow(void **state)
{
    (void)state;
    void *p = NULL;
    size_t cap = 0;
    assert_int_equal(kt_grow(&p, &cap, 1, sizeof(double)), 0);
    assert_non_null(p);
    assert_int_equal(cap, 16);
    ((double *)p)[15] = 1.5; /* all of it is there */
    void *before = p;
    assert_int_equal(kt_grow(&p, &cap, 16, sizeof(double)), 0); /* enough already: unchanged */
    assert_ptr_equal(p, before);
    assert_int_equal(cap, 16);
    assert_int_equal(kt_grow(&p, &cap, 100, sizeof(double)), 0);
    assert_int_equal(cap, 128);
    assert_true(((double *)p)[15] == 1.5); /* the contents move with it */
    before = p;
    assert_int_equal(kt_grow(&p, &cap, SIZE_MAX / 4, 16), -1); /* bytes would overflow */
    assert_int_equal(kt_grow(&p, &cap, SIZE_MAX, 1), -1);      /* capacity would overflow */
    assert_ptr_equal(p, before);
    assert_int_equal(cap, 128);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_grow)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
