"""`python -m integrations.keygen`: print a new key for PARTNERBOT_SECRET_KEY."""

from cryptography.fernet import Fernet

if __name__ == "__main__":
    print(Fernet.generate_key().decode())
