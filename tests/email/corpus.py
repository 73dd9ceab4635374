"""What each message of tests/data/mail should become: documents in fax order, and what is left out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Expected:
    """The documents (clean name, pages) in order, the names left out, words the cover note keeps."""

    documents: tuple[tuple[str, int], ...] = ()
    left_out: tuple[str, ...] = ()
    note_has: tuple[str, ...] = ()
    note_lacks: tuple[str, ...] = ()
    refused: str = ""  # the SMTP code when the whole mail is refused
    automatic: bool = False


EXPECTED: dict[str, Expected] = {
    "outlook_winmail": Expected(
        documents=(("Quote 2024-117.pdf", 2), ("site-plan.png", 1)),
        note_has=("Please fax the attached quote",),
    ),
    "outlook_winmail_only": Expected(documents=(("Agenda.pdf", 1),), note_has=("Agenda for Monday",)),
    "gmail_inline_image": Expected(
        documents=(("Invoice 2024-03.pdf", 2),),
        left_out=("logo.png",),
        note_has=("invoice for March",),
        note_lacks=("[image:",),
    ),
    "apple_mail_inline_pdf": Expected(documents=(("Contract.pdf", 3),), note_has=("signed contract",)),
    "thunderbird_rfc2231": Expected(
        documents=(
            ("Angebot für Müller.pdf", 1),
            ("Lageplan Erdgeschoss und Obergeschoss – Entwurf März 2024.pdf", 2),
        ),
        note_has=("besprochen. Bei Fragen", "Grüßen"),
    ),
    "scanner_xerox": Expected(documents=(("Scan_0001.tif", 3),), note_has=("scanned",)),
    "scanner_hp_octet": Expected(documents=(("scan0042.pdf", 2),)),
    "forwarded_rfc822": Expected(
        documents=(("signed.pdf", 4), ("cover-letter.pdf", 1)), note_has=("signed contract below",)
    ),
    "forwarded_text_only": Expected(documents=(("Meeting notes.txt", 1),), note_has=("for the file",)),
    "utf8_body": Expected(note_has=("Größe: 5 €", "Ελληνικά", "ありがとうございます")),
    "latin1_body": Expected(note_has=("Frau Müller", "Maße für die Tür", "2,10 m × 0,90 m")),
    "cp1252_body": Expected(
        note_has=("\u201cfinal\u201d price is \u20ac", "\u2013 valid until Friday\u2026")
    ),
    "outlook_calendar_invite": Expected(
        documents=(("Agenda.pdf", 1),),
        left_out=("calendar invitation", "invite.ics"),
        note_has=("See you Monday",),
    ),
    "vcard": Expected(documents=(("Order.pdf", 1),), left_out=("Jane Doe.vcf",)),
    "smime_signed": Expected(documents=(("Statement.pdf", 2),), left_out=("smime.p7s",)),
    "html_only": Expected(
        note_has=("Please confirm order 4711 by fax.", "- 2 × chairs"),
        note_lacks=("Earlier message", "alert", "color", "Customer Service", "ignored"),
    ),
    "body_only": Expected(
        note_has=("Please call me back", "Ann"), note_lacks=("Can we move", "wrote:", "Example Corp")
    ),
    "empty": Expected(refused="554"),
    "empty_attachment": Expected(left_out=("blank.pdf",), note_has=("did not attach",)),
    "unfaxable_attachments": Expected(documents=(("Form.pdf", 1),), left_out=("photos.zip", "setup.exe")),
    "rfc2047_filename": Expected(documents=(("Übersicht Q1.pdf", 1), ("Report (final).pdf", 1))),
    "iphone_photo": Expected(documents=(("IMG_0412.jpeg", 1),), note_lacks=("Sent from my iPhone",)),
    "attachment_order": Expected(documents=(("1-first.pdf", 1), ("3-third.png", 1), ("2-second.jpg", 1))),
    "auto_reply": Expected(note_has=("out of the office",), automatic=True),
    "mailing_list": Expected(documents=(("prices.pdf", 1),), automatic=True),
    "broken_base64": Expected(documents=(("good.pdf", 1),), left_out=("damaged.pdf",)),
    "outlook_reply_quote": Expected(note_has=("Confirmed: delivery",), note_lacks=("Which day suits you",)),
    "outlook_html_signature": Expected(
        documents=(("Invoice 88.pdf", 1),), left_out=("image001.png",), note_lacks=("[cid:",)
    ),
}
