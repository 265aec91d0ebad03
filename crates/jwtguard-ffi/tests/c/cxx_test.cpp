/*
 * Compiles include/jwtguard.h as C++17 and runs a verification through it.
 */

#include <cstring>
#include <iostream>
#include <string>

#include <jwtguard.h>


static_assert(JWTGUARD_VERSION_NUMBER
              == JWTGUARD_VERSION_MAJOR * 10000 + JWTGUARD_VERSION_MINOR * 100
                 + JWTGUARD_VERSION_PATCH,
              "JWTGUARD_VERSION_NUMBER follows its formula");
static_assert(JWTGUARD_RESULT_PANIC == 900, "result numbers are fixed");
static_assert(sizeof(jwtguard_result) == 4, "results are 32-bit");


int
main()
{
    std::string         policy;
    jwtguard_result     rc;
    jwtguard_verifier  *verifier = nullptr;
    jwtguard_decision  *decision = nullptr;

    policy = "{\"action\": {\"jwksKeys\": [{\"kty\": \"oct\", \"k\": "
             "\"c2VjcmV0X2tleV9ub3RfZm9yX3Byb2R1Y3Rpb24\"}]}}";

    rc = jwtguard_verifier_new(
             reinterpret_cast<const uint8_t *>(policy.data()), policy.size(),
             nullptr, &verifier, nullptr);
    if (rc != JWTGUARD_RESULT_OK) {
        std::cerr << "load failed: " << static_cast<uint32_t>(rc) << "\n";
        return 1;
    }

    rc = jwtguard_verifier_verify(verifier, nullptr, 0, 0, &decision);
    if (rc != JWTGUARD_RESULT_OK
        || jwtguard_decision_verdict(decision) != JWTGUARD_VERDICT_DENY
        || jwtguard_decision_status(decision) != 401)
    {
        std::cerr << "a request without a token was not denied with 401\n";
        return 1;
    }

    jwtguard_decision_free(decision);
    jwtguard_verifier_free(verifier);

    std::cout << jwtguard_version() << "\n";

    return 0;
}
