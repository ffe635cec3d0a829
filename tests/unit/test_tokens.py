
import pytest

from parley.live.tokens import TokenError, Tokens


def test_caller_and_viewer_tokens():
    tokens = Tokens()
    caller, viewer = tokens.issue("s1", "caller"), tokens.issue("s1", "viewer")
    assert tokens.check(caller, "caller") == "s1" and tokens.check(viewer) == "s1"
    with pytest.raises(TokenError, match="for a viewer, not a caller"):
        tokens.check(viewer, "caller")


def test_forged_foreign_and_expired_tokens_are_refused():
    tokens = Tokens()
    token = tokens.issue("s1", "caller")
    body, mac = token.rsplit(".", 1)
    with pytest.raises(TokenError, match="invalid"):
        tokens.check(f"{body}.{'0' * len(mac)}")
    with pytest.raises(TokenError, match="invalid"):
        Tokens().check(token)  # another server's secret
    with pytest.raises(TokenError, match="invalid"):
        tokens.check("garbage")
    old = Tokens(secret=tokens.secret, ttl_s=-1).issue("s1", "caller")
    with pytest.raises(TokenError, match="expired"):
        tokens.check(old)
