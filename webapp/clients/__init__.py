"""The code that talks to the outside world: OpenRouter and WhatsApp's Graph API."""
