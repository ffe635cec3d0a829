"""What every part of the loop uses: audio at the stages' rates, the stages' threads, the payloads
that travel between stages, the events a session emits, the stage Protocols and the errors. Nothing
in here imports from the loop's other folders."""
