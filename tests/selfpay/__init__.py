"""我为自己缴 (sbweb/views/selfpay.py): the wizard's steps as pages and fragments, and the whole journey."""
