"""Payment and sign-in providers' adapters against local fakes over real HTTP."""
