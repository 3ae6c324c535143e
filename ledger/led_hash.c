/* SHA-256 for the chain hash and the state hash, by OpenSSL's EVP interface (the only file of
 * ledger/ that includes OpenSSL). The digest is fetched from OpenSSL's provider once per
 * process and each thread keeps one digest context: OpenSSL 3 otherwise takes a lock to look
 * the digest up and allocates a context on every call, which cost a fifth of an audit. */
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "led.h"

static EVP_MD *sha256_md;     /* fetched once; lives until the process exits */
static pthread_key_t ctx_key; /* each thread's EVP_MD_CTX, freed when the thread exits */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_init_once(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    int rc = pthread_key_create(&ctx_key, ctx_free);
    /* These fail only when OpenSSL or libc cannot allocate: a ledger that cannot hash cannot
     * run, so it is a crash, and the node restarts. */
    TK_ASSERT(sha256_md != NULL);
    TK_ASSERT(rc == 0);
}

/* This thread's context, initialised for a new SHA-256. */
static EVP_MD_CTX *sha256_begin(void)
{
    int rc = pthread_once(&sha256_once, sha256_init_once);
    TK_ASSERT(rc == 0);
    EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
        TK_ASSERT(ctx != NULL); /* as above: out of memory */
        rc = pthread_setspecific(ctx_key, ctx);
        TK_ASSERT(rc == 0);
    }
    int ok = EVP_DigestInit_ex2(ctx, sha256_md, NULL);
    TK_ASSERT(ok == 1);
    return ctx;
}

static void sha256_end(EVP_MD_CTX *ctx, int ok, uint8_t out[LED_HASH_BYTES])
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    ok &= EVP_DigestFinal_ex(ctx, digest, &digest_size);
    TK_ASSERT(ok == 1);
    TK_ASSERT(digest_size == LED_HASH_BYTES);
    memcpy(out, digest, LED_HASH_BYTES);
}

void led_chain_next(const uint8_t prev[LED_HASH_BYTES], uint64_t index, const uint8_t *event,
                    size_t event_size, uint8_t out[LED_HASH_BYTES])
{
    TK_ASSERT(prev != NULL && out != NULL);
    if (event_size > 0) TK_ASSERT(event != NULL);
    uint8_t index_be[8];
    for (unsigned i = 0; i < 8u; i++) {
        index_be[i] = (uint8_t)(index >> (56u - 8u * i));
    }
    EVP_MD_CTX *ctx = sha256_begin();
    int ok = EVP_DigestUpdate(ctx, prev, LED_HASH_BYTES);
    ok &= EVP_DigestUpdate(ctx, index_be, sizeof(index_be));
    if (event_size > 0) ok &= EVP_DigestUpdate(ctx, event, event_size);
    sha256_end(ctx, ok, out); /* out may be prev: prev was read above */
}

void led_sha256(const uint8_t *bytes, size_t size, uint8_t out[LED_HASH_BYTES])
{
    TK_ASSERT(out != NULL);
    if (size > 0) TK_ASSERT(bytes != NULL);
    EVP_MD_CTX *ctx = sha256_begin();
    int ok = size > 0 ? EVP_DigestUpdate(ctx, bytes, size) : 1;
    sha256_end(ctx, ok, out);
}
