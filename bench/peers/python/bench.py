"""Python azure-identity's side of `cargo xtask bench`.

`python bench.py <scenario> <iterations>` runs one scenario against identity-emulator and prints
{"samples_ns": [...]}. Same scenarios and environment as bench/ours (see its main.rs):
AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, IDENTITY_ENDPOINT,
IDENTITY_HEADER, BENCH_CA; for the DefaultAzureCredential scenarios xtask sets PATH, HOME and
AZURE_POD_IDENTITY_AUTHORITY_HOST (an address that never answers) in this process's environment.
"""
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

SCOPE = "https://vault.azure.net/.default"
BATCH = 2_000  # calls per sample in the cached scenarios (Python is ~1000x slower per call)


def secret_credential():
    return ClientSecretCredential(
        os.environ["AZURE_TENANT_ID"],
        os.environ["AZURE_CLIENT_ID"],
        os.environ["AZURE_CLIENT_SECRET"],
        authority=os.environ["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
        connection_verify=os.environ["BENCH_CA"],
    )


def timed(f):
    started = time.perf_counter_ns()
    f()
    return time.perf_counter_ns() - started


def floor_secret():
    url = "{}/{}/oauth2/v2.0/token".format(os.environ["AZURE_AUTHORITY_HOST"], os.environ["AZURE_TENANT_ID"])
    form = {
        "client_id": os.environ["AZURE_CLIENT_ID"],
        "client_secret": os.environ["AZURE_CLIENT_SECRET"],
        "grant_type": "client_credentials",
        "scope": SCOPE,
    }
    with requests.Session() as s:
        s.post(url, data=form, verify=os.environ["BENCH_CA"], timeout=10).raise_for_status()


def floor_mi():
    url = os.environ["IDENTITY_ENDPOINT"] + "?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net"
    with requests.Session() as s:
        s.get(url, headers={"X-IDENTITY-HEADER": os.environ["IDENTITY_HEADER"]}, timeout=10).raise_for_status()


def cached(threads, n):
    credential = secret_credential()
    credential.get_token(SCOPE)
    samples = []
    for _ in range(n):
        barrier = threading.Barrier(threads)
        results = []

        def worker():
            barrier.wait()
            started = time.perf_counter_ns()
            for _ in range(BATCH):
                credential.get_token(SCOPE)
            results.append((time.perf_counter_ns() - started) // BATCH)

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        samples.append(max(results))
    return samples


def concurrent(scopes, n):
    samples = []
    for _ in range(n):
        credential = secret_credential()
        with ThreadPoolExecutor(max_workers=len(scopes)) as pool:
            started = time.perf_counter_ns()
            for f in [pool.submit(credential.get_token, s) for s in scopes]:
                f.result()
            samples.append(time.perf_counter_ns() - started)
    return samples


def dac(expect_token):
    credential = DefaultAzureCredential()
    try:
        credential.get_token(SCOPE)
        got = True
    except Exception:
        got = False
    if got != expect_token:
        raise SystemExit("DefaultAzureCredential: expected {}".format("a token" if expect_token else "no token"))


def main():
    scenario, n = sys.argv[1], int(sys.argv[2])
    if scenario == "floor-requests-secret":
        samples = [timed(floor_secret) for _ in range(n)]
    elif scenario == "secret-sync":
        samples = [timed(lambda: secret_credential().get_token(SCOPE)) for _ in range(n)]
    elif scenario == "floor-requests-mi":
        samples = [timed(floor_mi) for _ in range(n)]
    elif scenario == "mi-sync":
        samples = [timed(lambda: ManagedIdentityCredential().get_token(SCOPE)) for _ in range(n)]
    elif scenario == "cached-1t":
        samples = cached(1, n)
    elif scenario == "cached-2t":
        samples = cached(2, n)
    elif scenario == "herd-1000":
        samples = concurrent([SCOPE] * 1000, n)
    elif scenario == "keys-5":
        samples = concurrent(["https://bench-{}.example.com/.default".format(i) for i in range(5)], n)
    elif scenario == "dac-none":
        samples = [timed(lambda: dac(False)) for _ in range(n)]
    elif scenario == "dac-slow-az":
        samples = [timed(lambda: dac(True)) for _ in range(n)]
    else:
        raise SystemExit("unknown scenario " + scenario)
    print(json.dumps({"samples_ns": samples}))


if __name__ == "__main__":
    main()
