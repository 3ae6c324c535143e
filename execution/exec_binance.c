/* The Binance spot venue (exec.h): request signing so far. */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "exec.h"

tk_err exec_binance_sign(const char *secret, size_t secret_size, const char *payload,
                         size_t payload_size, char out[EXEC_BINANCE_SIGNATURE_BYTES])
{
    TK_ASSERT(secret != NULL && out != NULL);
    TK_ASSERT(payload != NULL || payload_size == 0);
    TK_ASSERT(secret_size <= (size_t)INT32_MAX);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    if (HMAC(EVP_sha256(), secret, (int)secret_size, (const unsigned char *)payload, payload_size,
             mac, &mac_size) == NULL ||
        mac_size != 32u)
        return TK_EIO;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32u; i++) {
        out[2u * i] = hex[mac[i] >> 4];
        out[2u * i + 1u] = hex[mac[i] & 0x0fu];
    }
    out[64] = '\0';
    return TK_OK;
}
