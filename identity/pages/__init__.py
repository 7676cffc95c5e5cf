"""The identity's browser pages: sign-in, consent, account, passkey ceremonies, static."""
