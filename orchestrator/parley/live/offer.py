"""Checking a caller's WebRTC offer before anything is created for it.

aiortc reports a malformed offer deep inside negotiation (``None is not in list``); here each way an
offer can be unusable gets a message that says what is missing, and the server creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import sdp as aiortc_sdp

MAX_SDP_BYTES = 64 * 1024  # a browser's offer is a few kB


class OfferError(ValueError):
    """The offer cannot be answered; the message says why and what a usable offer has."""


@dataclass(frozen=True)
class Offer:
    sdp: str
    audio: bool  # the caller sends a microphone (or receives the avatar's voice)
    video: bool  # the caller receives the avatar's video; audio-only clients leave it out
    data: bool  # a data channel (captions, typed text)


def check_offer(sdp: object, kind: object) -> Offer:
    if kind != "offer":
        raise OfferError("type must be 'offer' (send the browser's RTCPeerConnection.createOffer())")
    if not isinstance(sdp, str) or not sdp.strip():
        raise OfferError("sdp must be the offer's SDP text")
    if len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise OfferError(f"the offer is larger than {MAX_SDP_BYTES // 1024} kB; a browser's is a few kB")
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("the offer is not valid SDP: it must start with 'v=0'")
    try:
        parsed = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser asserts and indexes its way through foreign text
        raise OfferError(f"the offer is not valid SDP ({type(exc).__name__} {exc})".strip()) from None
    kinds = [m.kind for m in parsed.media]
    if "audio" not in kinds:
        raise OfferError("the offer has no audio line (m=audio): add an audio transceiver, even receive-only")
    for media in parsed.media:
        ice = media.ice
        if ice is None or not ice.usernameFragment or not ice.password:
            raise OfferError(f"the offer's {media.kind} line has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
        if media.dtls is None or not media.dtls.fingerprints:
            raise OfferError(f"the offer's {media.kind} line has no DTLS fingerprint (a=fingerprint)")
        if media.kind in ("audio", "video") and not media.rtp.codecs:
            raise OfferError(f"the offer's {media.kind} line lists no codec")
    return Offer(sdp, audio=True, video="video" in kinds, data="application" in kinds)
