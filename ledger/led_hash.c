/* The log's chain hash, SHA-256 by OpenSSL's EVP interface (the only file of ledger/ that
 * includes OpenSSL). */
#include <openssl/evp.h>
#include <string.h>

#include "led.h"

void led_chain_next(const uint8_t prev[LED_HASH_BYTES], uint64_t index, const uint8_t *event,
                    size_t event_size, uint8_t out[LED_HASH_BYTES])
{
    TK_ASSERT(prev != NULL && out != NULL);
    if (event_size > 0) TK_ASSERT(event != NULL);
    uint8_t index_be[8];
    for (unsigned i = 0; i < 8u; i++) {
        index_be[i] = (uint8_t)(index >> (56u - 8u * i));
    }
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* These fail only when OpenSSL cannot allocate its context: nothing sensible is left to
     * do with a ledger that cannot hash, so it is a crash, and the node restarts. */
    TK_ASSERT(ctx != NULL);
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    ok &= EVP_DigestUpdate(ctx, prev, LED_HASH_BYTES);
    ok &= EVP_DigestUpdate(ctx, index_be, sizeof(index_be));
    if (event_size > 0) ok &= EVP_DigestUpdate(ctx, event, event_size);
    ok &= EVP_DigestFinal_ex(ctx, digest, &digest_size);
    EVP_MD_CTX_free(ctx);
    TK_ASSERT(ok == 1);
    TK_ASSERT(digest_size == LED_HASH_BYTES);
    for (unsigned i = 0; i < LED_HASH_BYTES; i++) {
        out[i] = digest[i];
    }
}

void led_sha256(const uint8_t *bytes, size_t size, uint8_t out[LED_HASH_BYTES])
{
    TK_ASSERT(out != NULL);
    if (size > 0) TK_ASSERT(bytes != NULL);
    unsigned int digest_size = 0;
    uint8_t digest[EVP_MAX_MD_SIZE];
    /* Fails only when OpenSSL cannot allocate: as in led_chain_next, a crash. */
    int ok = EVP_Digest(bytes, size, digest, &digest_size, EVP_sha256(), NULL);
    TK_ASSERT(ok == 1);
    TK_ASSERT(digest_size == LED_HASH_BYTES);
    memcpy(out, digest, LED_HASH_BYTES);
}
