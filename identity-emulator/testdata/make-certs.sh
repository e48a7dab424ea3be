#!/bin/sh
# Creates the well-known, emulator-only test certificates and RSA keys in this directory.
#
# THESE KEYS ARE PUBLIC. They exist so that the identity emulator has a certificate credential
# registered out of the box (like Azurite's well-known account key). Never trust them anywhere else.
#
# Run once (OpenSSL 3): sh make-certs.sh. The outputs are checked in; re-running replaces them,
# which changes the default app's thumbprints.
set -eu
cd "$(dirname "$0")"

make_pair() {
    name="$1"
    subject="$2"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key.pem"
    openssl req -new -x509 -key "$name.key.pem" -out "$name.cert.pem" -days 36500 -sha256 \
        -subj "$subject"
    # Certificate first, then the key: the layout CertificateCredential expects in a PEM file.
    cat "$name.cert.pem" "$name.key.pem" > "$name.pem"
}

# The certificate registered on the emulator's default app.
make_pair default-app "/O=identity-emulator well-known test key, do not trust/CN=identity-emulator default app"
# A second, unregistered key pair: for "wrong key" and "wrong thumbprint" tests.
make_pair other "/O=identity-emulator well-known test key, do not trust/CN=identity-emulator other app"
