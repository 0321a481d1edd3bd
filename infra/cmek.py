"""The CMEK grant a Google service agent needs before a resource can name the key as its default."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp


def grant_key_to_agent(
    name: str, kms_key_name: str, agent_member: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> gcp.kms.CryptoKeyIAMMember:
    """Encrypt/decrypt on `kms_key_name` for a service agent (member-level, never authoritative)."""
    return gcp.kms.CryptoKeyIAMMember(
        name,
        crypto_key_id=kms_key_name,
        role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
        member=agent_member,
        opts=opts,
    )
