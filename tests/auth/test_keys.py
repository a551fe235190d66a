"""Signing-key rotation: new keys sign first, retired keys expire."""

from __future__ import annotations

from pathlib import Path

from seatline.auth.keys import (
    KeySource,
    generate_key_store,
    load_key_store,
    write_key_store,
)


def test_rotate_puts_new_key_first() -> None:
    store = generate_key_store()

    rotated = store.rotate(now=1000.0)

    assert rotated.token_keys[1:] == store.token_keys
    assert rotated.retired == {store.token_signing_key.kid: 1000.0}
    assert rotated.ticket_keys == store.ticket_keys


def test_prune_drops_keys_past_lifetime() -> None:
    store = generate_key_store().rotate(now=1000.0).rotate(now=2000.0)
    newest, middle, oldest = store.token_keys

    pruned = store.prune(keep_seconds=630, now=2500.0)

    assert pruned.token_keys == [newest, middle]
    assert set(pruned.retired) == {middle.kid}
    assert oldest.kid not in {key["kid"] for key in pruned.public_jwks()["keys"]}


def test_prune_keeps_signing_key() -> None:
    store = generate_key_store()

    assert store.prune(keep_seconds=0, now=10**10).token_keys == store.token_keys


def test_retired_times_survive_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    rotated = generate_key_store().rotate(now=1234.5)
    write_key_store(path, rotated)

    assert load_key_store(path, create=False).retired == rotated.retired


def test_key_source_reloads_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    store = generate_key_store()
    write_key_store(path, store)
    source = KeySource(path, store, check_seconds=3600)

    assert source.reload() is False
    rotated = store.rotate()
    write_key_store(path, rotated)

    assert source.reload() is True
    assert source.current().token_signing_key.kid == rotated.token_signing_key.kid


def test_key_source_keeps_keys_on_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    store = generate_key_store()
    write_key_store(path, store)
    source = KeySource(path, store, check_seconds=3600)
    path.write_text("{ not json")

    assert source.reload() is False
    assert source.current() is store
