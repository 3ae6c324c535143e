/* execution/exec_binance.c: Binance's request signature against the known answer of Binance's
 * own documentation (Spot API, "SIGNED Endpoint Examples for POST /api/v3/order", HMAC
 * keys), and its properties: any change of the payload or the secret changes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */
#include <string.h>

#include "exec.h"
#include "exec_tests.h"
#include "tk_test.h"

/* The documented example's secret key, total parameters and signature. */
static const char doc_secret[] = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
static const char doc_params[] = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&"
                                 "price=0.1&recvWindow=5000&timestamp=1499827319559";
static const char doc_signature[] =
    "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

static void test_sign_known_answer(void **unused)
{
    (void)unused;
    char sig[EXEC_BINANCE_SIGNATURE_BYTES];
    assert_int_equal(
        exec_binance_sign(doc_secret, strlen(doc_secret), doc_params, strlen(doc_params), sig),
        TK_OK);
    assert_string_equal(sig, doc_signature);
    /* the query string and the body are one payload: split anywhere, concatenated, the same */
    char joined[sizeof(doc_params)];
    memcpy(joined, doc_params, sizeof(doc_params));
    assert_int_equal(exec_binance_sign(doc_secret, strlen(doc_secret), joined, strlen(joined), sig),
                     TK_OK);
    assert_string_equal(sig, doc_signature);
}

static void test_sign_depends_on_every_byte(void **unused)
{
    (void)unused;
    char sig[EXEC_BINANCE_SIGNATURE_BYTES];
    char params[sizeof(doc_params)];
    memcpy(params, doc_params, sizeof(doc_params));
    for (size_t i = 0; i < strlen(params); i += 7) {
        params[i] ^= 1;
        assert_int_equal(
            exec_binance_sign(doc_secret, strlen(doc_secret), params, strlen(params), sig), TK_OK);
        assert_string_not_equal(sig, doc_signature);
        params[i] ^= 1;
    }
    assert_int_equal(
        exec_binance_sign(doc_secret, strlen(doc_secret) - 1, doc_params, strlen(doc_params), sig),
        TK_OK);
    assert_string_not_equal(sig, doc_signature);
    assert_int_equal(exec_binance_sign(doc_secret, strlen(doc_secret), "", 0, sig), TK_OK);
    assert_int_equal(strlen(sig), 64);
}

int exec_test_binance(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known_answer),
        cmocka_unit_test(test_sign_depends_on_every_byte),
    };
    return cmocka_run_group_tests_name("execution/binance", tests, NULL, NULL);
}
