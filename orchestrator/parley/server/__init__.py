"""`parley serve`: the live avatar over WebRTC (aiortc) with the demo web app."""
