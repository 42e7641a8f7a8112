"""证明开具 (sbweb/views/certificates.py): vouchers, 缴费证明, 完税证明, 票证号码, 证明核验, mailing documents."""
