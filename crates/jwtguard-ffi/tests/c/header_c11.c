/*
 * Compiles include/jwtguard.h alone as strict C11.
 */

#include <jwtguard.h>


_Static_assert(JWTGUARD_VERSION_NUMBER
               == JWTGUARD_VERSION_MAJOR * 10000 + JWTGUARD_VERSION_MINOR * 100
                  + JWTGUARD_VERSION_PATCH,
               "JWTGUARD_VERSION_NUMBER follows its formula");
_Static_assert(JWTGUARD_RESULT_OK == 0, "result numbers are fixed");
_Static_assert(JWTGUARD_RESULT_NULL_PARAMETER == 100,
               "result numbers are fixed");
_Static_assert(JWTGUARD_RESULT_POLICY_INVALID == 200,
               "result numbers are fixed");
_Static_assert(JWTGUARD_REASON_KEYS_UNAVAILABLE == 9,
               "reason numbers are fixed");
_Static_assert(sizeof(jwtguard_key_stats) == 6 * sizeof(uint64_t),
               "key statistics are six uint64_t fields");


int
jwtguard_header_c11_test(void)
{
    return JWTGUARD_VERDICT_ERROR;
}
