"""我帮他人缴 (sbweb/views/proxy.py): 被代缴人, 代他人缴费 once, 合并缴费."""
