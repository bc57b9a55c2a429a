"""Voice: text-to-speech engines and speech processing."""
