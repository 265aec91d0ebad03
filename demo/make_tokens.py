"""Make the demo's key set and tokens with PyJWT, an independent signer.

Writes jwks.json (the public key NGINX serves) and tokens/valid.jwt and
tokens/expired.jwt. The private key is generated here and never stored.
Re-run with `python3 make_tokens.py` (needs `pip install pyjwt cryptography`).
"""

import json
import pathlib

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

HERE = pathlib.Path(__file__).parent
KID = "demo-es256"


def main():
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key()))
    public_jwk.update({"kid": KID, "use": "sig", "alg": "ES256"})
    public_jwk.pop("key_ops", None)
    (HERE / "jwks.json").write_text(json.dumps({"keys": [public_jwk]}, indent=2) + "\n")

    claims = {
        "iss": "https://idp.demo.test",
        "sub": "demo-user",
        "aud": "orders-api",
        "iat": 1700000000,
        "scope": "orders:read",
    }
    tokens = HERE / "tokens"
    tokens.mkdir(exist_ok=True)
    for name, exp in (("valid", 4102444800), ("expired", 1000000000)):
        token = jwt.encode({**claims, "exp": exp}, private_key, algorithm="ES256",
                           headers={"kid": KID})
        (tokens / f"{name}.jwt").write_text(token + "\n")


if __name__ == "__main__":
    main()
