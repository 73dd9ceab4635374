"""Writes the .eml corpus in this folder: mail as real clients, phones and scanners send it.

Run `python tests/data/mail/make_corpus.py` from the repository root to regenerate. The
documents inside are small generated PDFs, PNGs, JPEGs and TIFFs; the structure, headers
and encodings of each message follow what that client writes (boundaries, X-Mailer,
Content-Disposition habits, filename encodings, winmail.dat). The expected documents of
each message are listed in tests/email/corpus.py.
"""

from __future__ import annotations

import base64
import io
import quopri
import struct
import textwrap
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
WHEN = datetime(2024, 3, 14, 9, 30, tzinfo=UTC)
SP = " "  # a trailing space, which editors and formatters would otherwise strip


# -- documents ---------------------------------------------------------------------------------


def pdf(pages: int = 1, title: str = "Document") -> bytes:
    from fpdf import FPDF

    doc = FPDF(format="letter")
    doc.set_creation_date(WHEN)
    doc.set_font("helvetica", size=16)
    for number in range(1, pages + 1):
        doc.add_page()
        doc.cell(text=f"{title} - page {number} of {pages}")
    return bytes(doc.output())


def image(kind: str = "PNG", frames: int = 1, size: tuple[int, int] = (240, 120)) -> bytes:
    """A small picture; a TIFF is bilevel with CCITT Group 4 compression, as fax scanners write it."""
    from PIL import Image, ImageDraw

    mode = "1" if kind == "TIFF" else "L"
    pictures = []
    for index in range(frames):
        picture = Image.new(mode, size, color=255)
        ImageDraw.Draw(picture).text((10, 10), f"page {index + 1}", fill=0)
        pictures.append(picture)
    options = {"compression": "group4"} if kind == "TIFF" else {}
    out = io.BytesIO()
    if frames > 1:
        pictures[0].save(out, format=kind, save_all=True, append_images=pictures[1:], **options)
    else:
        pictures[0].save(out, format=kind, **options)
    return out.getvalue()


def b64(data: bytes, width: int = 76) -> str:
    text = base64.b64encode(data).decode("ascii")
    return "\n".join(textwrap.wrap(text, width))


def qp(text: str, charset: str = "utf-8") -> str:
    return quopri.encodestring(text.encode(charset)).decode("ascii")


# -- Outlook's TNEF (winmail.dat) --------------------------------------------------------------


def _attr(level: int, name: int, kind: int, data: bytes) -> bytes:
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def _mapi_unicode(prop_id: int, text: str) -> bytes:
    raw = (text + "\x00").encode("utf-16-le")
    padded = raw + b"\x00" * (-len(raw) % 4)
    return struct.pack("<IHHII", 1, 0x001F, prop_id, 1, len(raw)) + padded


def tnef(files: list[tuple[str, str, bytes]], body: str | None = None) -> bytes:
    """A winmail.dat as Outlook writes it: version, codepage, class, body, then each attachment.

    Each file is (8.3 title, long filename, bytes).
    """
    out = struct.pack("<IH", 0x223E9F78, 0x1A2B)
    out += _attr(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _attr(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))  # attOemCodepage
    out += _attr(1, 0x8008, 0x0007, b"IPM.Microsoft Mail.Note\x00")  # attMessageClass
    if body is not None:
        out += _attr(1, 0x800C, 0x0002, body.encode("cp1252"))  # attBody
    for title, long_name, data in files:
        out += _attr(2, 0x9002, 0x0006, b"\x01\x00\xff\xff\xff\xff\x01\x00\x01\x00\x00\x00\x00\x00")
        out += _attr(2, 0x8010, 0x0001, title.encode("cp1252") + b"\x00")  # attAttachTitle
        out += _attr(2, 0x800F, 0x0006, data)  # attAttachData
        out += _attr(2, 0x9005, 0x0006, _mapi_unicode(0x3707, long_name))  # attAttachment: long filename
    return out


# -- the messages ------------------------------------------------------------------------------


def outlook_winmail() -> str:
    data = tnef(
        [
            ("QUOTE2~1.PDF", "Quote 2024-117.pdf", pdf(2, "Quote 2024-117")),
            ("SITE-P~1.PNG", "site-plan.png", image("PNG")),
        ],
        body="Please find the quote and the site plan attached.",
    )
    return f"""\
Received: from EXCH01.corp.example.com (10.0.0.12) by EXCH02.corp.example.com
 (10.0.0.13) with Microsoft SMTP Server id 15.1.2507.35; Thu, 14 Mar 2024 09:30:11 +0000
From: "Baker, Robert" <robert.baker@corp.example.com>
To: "12025550123@fax.localhost" <12025550123@fax.localhost>
Subject: Quote 2024-117
Thread-Topic: Quote 2024-117
Thread-Index: AdpV9n0yX2w3o6c9TyWm3q3H9Zy1Ag==
Date: Thu, 14 Mar 2024 09:30:10 +0000
Message-ID: <DM6PR11MB4107A1B2C3D4E5F6@DM6PR11MB4107.namprd11.prod.outlook.com>
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator: <DM6PR11MB4107A1B2C3D4E5F6@DM6PR11MB4107.namprd11.prod.outlook.com>
X-Mailer: Microsoft Outlook 16.0
Content-Type: multipart/mixed;
\tboundary="_002_DM6PR11MB4107A1B2C3D4E5F6_"
MIME-Version: 1.0

--_002_DM6PR11MB4107A1B2C3D4E5F6_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Hello,

Please fax the attached quote to the site office.

Regards,
Robert

--_002_DM6PR11MB4107A1B2C3D4E5F6_
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Description: winmail.dat
Content-Disposition: attachment; filename="winmail.dat"; size={len(data)};
\tcreation-date="Thu, 14 Mar 2024 09:30:10 GMT";
\tmodification-date="Thu, 14 Mar 2024 09:30:10 GMT"
Content-Transfer-Encoding: base64

{b64(data)}

--_002_DM6PR11MB4107A1B2C3D4E5F6_--
"""


def outlook_winmail_only() -> str:
    data = tnef([("AGENDA~1.PDF", "Agenda.pdf", pdf(1, "Agenda"))], body="Agenda for Monday is attached.")
    return f"""\
From: Carla Jones <carla.jones@corp.example.com>
To: <+12025550123@fax.localhost>
Subject: Agenda
Date: Thu, 14 Mar 2024 09:31:00 +0000
Message-ID: <000001da75f4$2a3b4c50$7eb1e4f0$@corp.example.com>
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 15.0
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Transfer-Encoding: base64

{b64(data)}
"""


def gmail_inline_image() -> str:
    return f"""\
MIME-Version: 1.0
Date: Thu, 14 Mar 2024 10:02:11 +0100
Message-ID: <CAFx8k3r+Zq9YhU0oLw=3vX4tq1@mail.gmail.com>
Subject: Invoice March
From: Anna Schmidt <anna.schmidt@gmail.com>
To: 12025550123@fax.localhost
Content-Type: multipart/mixed; boundary="000000000000f1e2d3c4b5a69788"

--000000000000f1e2d3c4b5a69788
Content-Type: multipart/related; boundary="000000000000f1e2d2c4b5a69787"

--000000000000f1e2d2c4b5a69787
Content-Type: multipart/alternative; boundary="000000000000f1e2d1c4b5a69786"

--000000000000f1e2d1c4b5a69786
Content-Type: text/plain; charset="UTF-8"

Hi,

here is the invoice for March.

[image: logo.png]

Anna

--000000000000f1e2d1c4b5a69786
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<div dir=3D"ltr">Hi,<div><br></div><div>here is the invoice for March.</div=
><div><br></div><div><img src=3D"cid:ii_ltq8x0a21" alt=3D"logo.png" width=
=3D"120" height=3D"60"><br></div><div>Anna</div></div>

--000000000000f1e2d1c4b5a69786--
--000000000000f1e2d2c4b5a69787
Content-Type: image/png; name="logo.png"
Content-Disposition: inline; filename="logo.png"
Content-Transfer-Encoding: base64
Content-ID: <ii_ltq8x0a21>
X-Attachment-Id: ii_ltq8x0a21

{b64(image("PNG", size=(120, 60)))}
--000000000000f1e2d2c4b5a69787--
--000000000000f1e2d3c4b5a69788
Content-Type: application/pdf; name="Invoice 2024-03.pdf"
Content-Disposition: attachment; filename="Invoice 2024-03.pdf"
Content-Transfer-Encoding: base64
Content-ID: <f_ltq8x4d50>
X-Attachment-Id: f_ltq8x4d50

{b64(pdf(2, "Invoice 2024-03"))}
--000000000000f1e2d3c4b5a69788--
"""


def apple_mail_inline_pdf() -> str:
    return f"""\
From: Tom Reyes <tom.reyes@icloud.com>
Content-Type: multipart/alternative;
\tboundary="Apple-Mail=_6B1F2E3A-1C4D-4E5F-8A9B-0C1D2E3F4A5B"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))
Subject: Signed contract
Message-Id: <8F2E4B6A-7C1D-4E3F-9A8B-1C2D3E4F5A6B@icloud.com>
Date: Thu, 14 Mar 2024 11:15:42 -0400
To: 12025550123@fax.localhost
X-Mailer: Apple Mail (2.3774.600.62)

--Apple-Mail=_6B1F2E3A-1C4D-4E5F-8A9B-0C1D2E3F4A5B
Content-Transfer-Encoding: 7bit
Content-Type: text/plain;
\tcharset=us-ascii

Here is the signed contract.

Thanks,
Tom

--Apple-Mail=_6B1F2E3A-1C4D-4E5F-8A9B-0C1D2E3F4A5B
Content-Type: multipart/mixed;
\tboundary="Apple-Mail=_0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D"

--Apple-Mail=_0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D
Content-Transfer-Encoding: 7bit
Content-Type: text/html;
\tcharset=us-ascii

<html><head><meta http-equiv="content-type" content="text/html; charset=us-ascii"></head><body style="overflow-wrap: break-word;">Here is the signed contract.<div><br></div><div></div></body></html>
--Apple-Mail=_0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D
Content-Disposition: inline;
\tfilename=Contract.pdf
Content-Type: application/pdf;
\tx-unix-mode=0644;
\tname="Contract.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(3, "Contract"))}
--Apple-Mail=_0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D
Content-Transfer-Encoding: 7bit
Content-Type: text/html;
\tcharset=us-ascii

<html><head><meta http-equiv="content-type" content="text/html; charset=us-ascii"></head><body style="overflow-wrap: break-word;"><div></div><div><br></div><div>Thanks,</div><div>Tom</div></body></html>
--Apple-Mail=_0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D--

--Apple-Mail=_6B1F2E3A-1C4D-4E5F-8A9B-0C1D2E3F4A5B--
"""


def thunderbird_rfc2231() -> str:
    return f"""\
Message-ID: <5c1e2d3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f@posteo.de>
Date: Thu, 14 Mar 2024 12:01:05 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: de-DE
To: 12025550123@fax.localhost
From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen.mueller@posteo.de>
Subject: =?UTF-8?Q?Angebot_f=C3=BCr_M=C3=BCller?=
Content-Type: multipart/mixed; boundary="------------9Xm3kqQ0fZf1lQ3dJ5uE2r8P"

This is a multi-part message in MIME format.
--------------9Xm3kqQ0fZf1lQ3dJ5uE2r8P
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Sehr geehrte Damen und Herren,

anbei das Angebot und der Lageplan, wie am Telefon besprochen. Bei{SP}
Fragen bin ich jederzeit erreichbar.

Mit freundlichen Grüßen
Jürgen Müller

--------------9Xm3kqQ0fZf1lQ3dJ5uE2r8P
Content-Type: application/pdf; name*=UTF-8''Angebot%20f%C3%BCr%20M%C3%BCller.pdf
Content-Disposition: attachment; filename*=UTF-8''Angebot%20f%C3%BCr%20M%C3%BCller.pdf
Content-Transfer-Encoding: base64

{b64(pdf(1, "Angebot"))}
--------------9Xm3kqQ0fZf1lQ3dJ5uE2r8P
Content-Type: application/pdf;
 name*0*=UTF-8''Lageplan%20Erdgeschoss%20und%20Obergeschoss%20%E2%80%93%20;
 name*1*=Entwurf%20M%C3%A4rz%202024.pdf
Content-Disposition: attachment;
 filename*0*=UTF-8''Lageplan%20Erdgeschoss%20und%20Obergeschoss%20%E2%80%93%20;
 filename*1*=Entwurf%20M%C3%A4rz%202024.pdf
Content-Transfer-Encoding: base64

{b64(pdf(2, "Lageplan"))}

--------------9Xm3kqQ0fZf1lQ3dJ5uE2r8P--
"""


def scanner_xerox() -> str:
    # Scanners often send no Message-ID and write the whole multi-page scan as one TIFF.
    return f"""\
Date: Thu, 14 Mar 2024 13:45:00 +0000
From: "Xerox WorkCentre 7845" <scanner@corp.example.com>
To: 12025550123@fax.localhost
Subject: Scan from a Xerox WorkCentre
X-Mailer: Xerox WorkCentre 7845
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="Xerox_Boundary_1710423900"

--Xerox_Boundary_1710423900
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Please open the attached document. It was scanned and sent to you using a Xerox multifunction printer.

Attachment File Type: TIFF
Number of Images: 3
Device Name: XRX-7845-2F
Device Location: 2nd floor copy room

--Xerox_Boundary_1710423900
Content-Type: image/tiff; name="Scan_0001.tif"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="Scan_0001.tif"

{b64(image("TIFF", frames=3, size=(1728, 2200)))}
--Xerox_Boundary_1710423900--
"""


def scanner_hp_octet() -> str:
    # The type says nothing useful; the bytes say PDF.
    return f"""\
Date: Thu, 14 Mar 2024 13:50:12 +0000
From: HP Scan <hp-scanner@corp.example.com>
To: 12025550123@fax.localhost
Subject:{SP}
Message-ID: <1710424212.0042@hp-m479.corp.example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=_hp_scan_0042"

--=_hp_scan_0042
Content-Type: application/octet-stream; name="scan0042"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="scan0042"

{b64(pdf(2, "scan0042"))}
--=_hp_scan_0042--
"""


def forwarded_rfc822() -> str:
    return f"""\
Message-ID: <a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d@example.org>
Date: Thu, 14 Mar 2024 14:10:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
To: 12025550123@fax.localhost
From: Petra Novak <petra@example.org>
Subject: Fwd: Signed contract
Content-Type: multipart/mixed; boundary="------------Fwd0Boundary3kq9"

This is a multi-part message in MIME format.
--------------Fwd0Boundary3kq9
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Please fax the signed contract below, then my cover letter.

--------------Fwd0Boundary3kq9
Content-Type: message/rfc822; name="Signed contract.eml"
Content-Disposition: attachment; filename="Signed contract.eml"

Message-ID: <inner-1@example.com>
Date: Wed, 13 Mar 2024 17:00:00 +0000
From: Legal <legal@example.com>
To: Petra Novak <petra@example.org>
Subject: Signed contract
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner-boundary-1"

--inner-boundary-1
Content-Type: text/plain; charset=us-ascii

The signed contract is attached.

--inner-boundary-1
Content-Type: application/pdf; name="signed.pdf"
Content-Disposition: attachment; filename="signed.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(4, "signed"))}
--inner-boundary-1--

--------------Fwd0Boundary3kq9
Content-Type: application/pdf; name="cover-letter.pdf"
Content-Disposition: attachment; filename="cover-letter.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(1, "cover letter"))}
--------------Fwd0Boundary3kq9--
"""


def forwarded_text_only() -> str:
    return """\
Message-ID: <b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e@example.org>
Date: Thu, 14 Mar 2024 14:20:00 +0100
MIME-Version: 1.0
To: 12025550123@fax.localhost
From: Petra Novak <petra@example.org>
Subject: Fwd: Meeting notes
Content-Type: multipart/mixed; boundary="------------Fwd1Boundary"

--------------Fwd1Boundary
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Notes from the meeting, for the file.

--------------Fwd1Boundary
Content-Type: message/rfc822
Content-Disposition: attachment

Message-ID: <inner-2@example.com>
Date: Wed, 13 Mar 2024 16:00:00 +0000
From: Sam Lee <sam@example.com>
To: Petra Novak <petra@example.org>
Subject: Meeting notes
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

1. Budget approved.
2. Next meeting on 21 March.

--------------Fwd1Boundary--
"""


def utf8_body() -> str:
    body = (
        "Guten Tag,\n\nbitte bestätigen Sie die Größe: 5 € pro Stück.\n"
        "Ελληνικά: ευχαριστώ. 日本語: ありがとうございます。\n\nGrüße\n"
    )
    return f"""\
From: =?UTF-8?B?QmrDtnJuIEvDtmhsZXI=?= <bjoern@example.de>
To: 12025550123@fax.localhost
Subject: =?UTF-8?B?QmVzdMOkdGlndW5nIOKAkyBHcsO2w59lIDUg4oKs?=
Date: Thu, 14 Mar 2024 15:00:00 +0100
Message-ID: <utf8-body-1@example.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

{qp(body)}"""


def latin1_body() -> str:
    body = "Sehr geehrte Frau Müller,\n\nanbei die Maße für die Tür: 2,10 m × 0,90 m.\n\nMit freundlichen Grüßen\n"
    head = """\
From: =?ISO-8859-1?Q?Andr=E9_Fran=E7ois?= <andre@example.fr>
To: 12025550123@fax.localhost
Subject: =?ISO-8859-1?Q?Ma=DFe_f=FCr_die_T=FCr?=
Date: Thu, 14 Mar 2024 15:05:00 +0100
Message-ID: <latin1-body-1@example.fr>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: 8bit

"""
    return head + body  # written as ISO-8859-1 bytes by main()


def cp1252_body() -> str:
    body = "Dear team,\n\nthe \u201cfinal\u201d price is \u20ac 1\u00a0250 \u2013 valid until Friday\u2026\n\nBest\n"
    return f"""\
From: Dana Whitfield <dana@example.com>
To: 12025550123@fax.localhost
Subject: =?Windows-1252?Q?=93Final=94_price?=
Date: Thu, 14 Mar 2024 15:10:00 +0000
Message-ID: <cp1252-body-1@example.com>
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 14.0
Content-Type: text/plain; charset="Windows-1252"
Content-Transfer-Encoding: quoted-printable

{qp(body, "cp1252")}"""


def outlook_calendar_invite() -> str:
    ics = (
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:Site meeting\r\nDTSTART:20240318T090000Z\r\nDTEND:20240318T100000Z\r\n"
        "UID:040000008200E00074C5B7101A82E00800000000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return f"""\
From: "Baker, Robert" <robert.baker@corp.example.com>
To: "12025550123@fax.localhost" <12025550123@fax.localhost>
Subject: Site meeting
Date: Thu, 14 Mar 2024 16:00:00 +0000
Message-ID: <DM6PR11MB4107CAL0001@DM6PR11MB4107.namprd11.prod.outlook.com>
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0
Content-Type: multipart/mixed; boundary="_004_cal_"

--_004_cal_
Content-Type: multipart/alternative; boundary="_000_cal_"

--_000_cal_
Content-Type: text/plain; charset="us-ascii"

Agenda attached. See you Monday.

--_000_cal_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Agenda attached. See you Monday.</p></body></html>

--_000_cal_
Content-Type: text/calendar; charset="utf-8"; method=REQUEST
Content-Transfer-Encoding: base64

{b64(ics.encode())}

--_000_cal_--

--_004_cal_
Content-Type: application/pdf; name="Agenda.pdf"
Content-Disposition: attachment; filename="Agenda.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(1, "Agenda"))}

--_004_cal_
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

{b64(ics.encode())}

--_004_cal_--
"""


def vcard() -> str:
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Doe\r\nTEL;TYPE=WORK:+1 202 555 0199\r\nEND:VCARD\r\n"
    return f"""\
From: Jane Doe <jane@example.com>
To: 12025550123@fax.localhost
Subject: Purchase order
Date: Thu, 14 Mar 2024 16:10:00 +0000
Message-ID: <vcard-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="vcard-boundary"

--vcard-boundary
Content-Type: text/plain; charset=us-ascii

Purchase order attached.

--vcard-boundary
Content-Type: application/pdf; name="Order.pdf"
Content-Disposition: attachment; filename="Order.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(1, "Order"))}
--vcard-boundary
Content-Type: text/x-vcard; charset=utf-8; name="Jane Doe.vcf"
Content-Disposition: attachment; filename="Jane Doe.vcf"

{card}
--vcard-boundary--
"""


def smime_signed() -> str:
    return f"""\
From: Compliance <compliance@bank.example>
To: 12025550123@fax.localhost
Subject: Statement
Date: Thu, 14 Mar 2024 16:20:00 +0000
Message-ID: <smime-1@bank.example>
MIME-Version: 1.0
Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;
\tboundary="----=_smime_outer"

This is an S/MIME signed message

------=_smime_outer
Content-Type: multipart/mixed; boundary="----=_smime_inner"

------=_smime_inner
Content-Type: text/plain; charset=us-ascii

Your statement is attached.

------=_smime_inner
Content-Type: application/pdf; name="Statement.pdf"
Content-Disposition: attachment; filename="Statement.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(2, "Statement"))}
------=_smime_inner--

------=_smime_outer
Content-Type: application/pkcs7-signature; name="smime.p7s"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="smime.p7s"
Content-Description: S/MIME Cryptographic Signature

{b64(bytes(range(256)) * 4)}
------=_smime_outer--
"""


def html_only() -> str:
    return """\
From: Web Form <noreply-form@shop.example>
Reply-To: Customer <customer@example.net>
To: 12025550123@fax.localhost
Subject: Order confirmation request
Date: Thu, 14 Mar 2024 16:30:00 +0000
Message-ID: <html-only-1@shop.example>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<!DOCTYPE html><html><head><style>p { color: #333 }</style><title>ignored</title></head>
<body><p>Please confirm order <b>4711</b> by fax.</p><ul><li>2 &times; chairs</li><li>1 &times; table</li></ul>
<div class="gmail_signature">Shop Example &ndash; Customer Service</div>
<blockquote type="cite">Earlier message that must not be faxed</blockquote>
<script>alert('no')</script></body></html>
"""


def body_only() -> str:
    return """\
From: Ann Example <ann@example.com>
To: 12025550123@fax.localhost
Subject: Please call back
Date: Thu, 14 Mar 2024 16:40:00 +0000
Message-ID: <body-only-1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Please call me back about the delivery on Monday.

Thanks,
Ann

On Wed, 13 Mar 2024 at 10:00, Bob Example <bob@example.com>
wrote:
> Can we move the delivery?
> Bob

--
Ann Example | Example Corp | +1 202 555 0100
"""


def empty() -> str:
    return """\
From: Ann Example <ann@example.com>
To: 12025550123@fax.localhost
Subject:
Date: Thu, 14 Mar 2024 16:50:00 +0000
Message-ID: <empty-1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

"""


def empty_attachment() -> str:
    return """\
From: Ann Example <ann@example.com>
To: 12025550123@fax.localhost
Subject: Blank form
Date: Thu, 14 Mar 2024 16:55:00 +0000
Message-ID: <empty-attachment-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b-empty"

--b-empty
Content-Type: text/plain; charset=us-ascii

The form did not attach, sorry. Please call me.

--b-empty
Content-Type: application/pdf; name="blank.pdf"
Content-Disposition: attachment; filename="blank.pdf"
Content-Transfer-Encoding: base64


--b-empty--
"""


def unfaxable_attachments() -> str:
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(zipfile.ZipInfo("photo1.jpg", date_time=(2024, 3, 14, 9, 30, 0)), image("JPEG"))
    return f"""\
From: Ann Example <ann@example.com>
To: 12025550123@fax.localhost
Subject: Form and photos
Date: Thu, 14 Mar 2024 17:00:00 +0000
Message-ID: <unfaxable-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b-unfax"

--b-unfax
Content-Type: text/plain; charset=us-ascii

Form attached.

--b-unfax
Content-Type: application/zip; name="photos.zip"
Content-Disposition: attachment; filename="photos.zip"
Content-Transfer-Encoding: base64

{b64(archive.getvalue())}
--b-unfax
Content-Type: application/pdf; name="Form.pdf"
Content-Disposition: attachment; filename="Form.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(1, "Form"))}
--b-unfax
Content-Type: application/x-msdownload; name="setup.exe"
Content-Disposition: attachment; filename="setup.exe"
Content-Transfer-Encoding: base64

{b64(b"MZ" + bytes(200))}
--b-unfax--
"""


def rfc2047_filename() -> str:
    # Outlook and many webmailers put RFC 2047 words inside the parameter (no RFC allows it),
    # and some clients leave names with spaces and parentheses unquoted.
    return f"""\
From: Office <office@example.at>
To: 12025550123@fax.localhost
Subject: Overview
Date: Thu, 14 Mar 2024 17:05:00 +0100
Message-ID: <rfc2047-name-1@example.at>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b-2047"

--b-2047
Content-Type: text/plain; charset=us-ascii

Two files.

--b-2047
Content-Type: application/pdf; name="=?utf-8?B?w5xiZXJzaWNodCBRMS5wZGY=?="
Content-Disposition: attachment; filename="=?utf-8?B?w5xiZXJzaWNodCBRMS5wZGY=?="
Content-Transfer-Encoding: base64

{b64(pdf(1, "Uebersicht"))}
--b-2047
Content-Type: application/pdf; name="Report (final).pdf"
Content-Disposition: attachment; filename=Report (final).pdf
Content-Transfer-Encoding: base64

{b64(pdf(1, "Report"))}
--b-2047--
"""


def iphone_photo() -> str:
    return f"""\
Content-Type: multipart/mixed; boundary=Apple-Mail-7E1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8
Content-Transfer-Encoding: 7bit
From: Tom Reyes <tom.reyes@icloud.com>
Mime-Version: 1.0 (1.0)
Date: Thu, 14 Mar 2024 17:10:00 -0400
Subject: Delivery note
Message-Id: <C4D5E6F7-0819-4A2B-3C4D-5E6F7A8B9C0D@icloud.com>
To: 12025550123@fax.localhost
X-Mailer: iPhone Mail (21D61)

--Apple-Mail-7E1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8
Content-Type: text/plain;
\tcharset=us-ascii
Content-Transfer-Encoding: 7bit



--Apple-Mail-7E1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8
Content-Type: image/jpeg;
\tname=IMG_0412.jpeg;
\tx-apple-part-url=2C3D4E5F-6A7B-8C9D-0E1F-2A3B4C5D6E7F
Content-Disposition: inline;
\tfilename=IMG_0412.jpeg
Content-Transfer-Encoding: base64

{b64(image("JPEG", size=(320, 480)))}
--Apple-Mail-7E1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8
Content-Type: text/plain;
\tcharset=us-ascii
Content-Transfer-Encoding: 7bit



Sent from my iPhone
--Apple-Mail-7E1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8--
"""


def attachment_order() -> str:
    return f"""\
From: Ann Example <ann@example.com>
To: 12025550123@fax.localhost
Subject: Three pages in order
Date: Thu, 14 Mar 2024 17:15:00 +0000
Message-ID: <order-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b-order"

--b-order
Content-Type: application/pdf; name="1-first.pdf"
Content-Disposition: attachment; filename="1-first.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(1, "first"))}
--b-order
Content-Type: image/png; name="3-third.png"
Content-Disposition: attachment; filename="3-third.png"
Content-Transfer-Encoding: base64

{b64(image("PNG"))}
--b-order
Content-Type: image/jpeg; name="2-second.jpg"
Content-Disposition: attachment; filename="2-second.jpg"
Content-Transfer-Encoding: base64

{b64(image("JPEG"))}
--b-order--
"""


def auto_reply() -> str:
    return """\
From: Ann Example <ann@example.com>
To: 12025550123@fax.localhost
Subject: Automatic reply: Your fax
Date: Thu, 14 Mar 2024 17:20:00 +0000
Message-ID: <auto-reply-1@example.com>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

I am out of the office until Monday.
"""


def mailing_list() -> str:
    return f"""\
From: Newsletter <news@lists.example.org>
To: 12025550123@fax.localhost
Subject: [announce] Price list
Date: Thu, 14 Mar 2024 17:25:00 +0000
Message-ID: <list-1@lists.example.org>
List-Id: Announcements <announce.lists.example.org>
List-Unsubscribe: <mailto:announce-leave@lists.example.org>
Precedence: list
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b-list"

--b-list
Content-Type: text/plain; charset=us-ascii

The new price list is attached.

--b-list
Content-Type: application/pdf; name="prices.pdf"
Content-Disposition: attachment; filename="prices.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(1, "prices"))}
--b-list--
"""


def broken_base64() -> str:
    good = b64(pdf(1, "good"))
    broken = b64(pdf(1, "broken"))
    broken = broken[:200] + "\n!!** not base64 **!!\n" + broken[200:-7]  # junk inside, tail cut off
    return f"""\
From: Ann Example <ann@example.com>
To: 12025550123@fax.localhost
Subject: Two files, one damaged
Date: Thu, 14 Mar 2024 17:30:00 +0000
Message-ID: <broken-b64-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b-broken"

--b-broken
Content-Type: application/pdf; name="damaged.pdf"
Content-Disposition: attachment; filename="damaged.pdf"
Content-Transfer-Encoding: base64

{broken}
--b-broken
Content-Type: application/pdf; name="good.pdf"
Content-Disposition: attachment; filename="good.pdf"
Content-Transfer-Encoding: base64

{good}
--b-broken--
"""


def outlook_reply_quote() -> str:
    return """\
From: "Baker, Robert" <robert.baker@corp.example.com>
To: "12025550123@fax.localhost" <12025550123@fax.localhost>
Subject: RE: Delivery date
Date: Thu, 14 Mar 2024 17:35:00 +0000
Message-ID: <DM6PR11MB4107RE0002@DM6PR11MB4107.namprd11.prod.outlook.com>
In-Reply-To: <earlier-1@example.com>
References: <earlier-0@example.com> <earlier-1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Confirmed: delivery on Monday 18 March, 9am.

Robert

________________________________
From: Dispatch <dispatch@example.com>
Sent: Wednesday, March 13, 2024 4:00 PM
To: Baker, Robert <robert.baker@corp.example.com>
Subject: Delivery date

Which day suits you?
"""


def outlook_html_signature() -> str:
    return f"""\
From: "Baker, Robert" <robert.baker@corp.example.com>
To: "Fax Desk" <12025550123@fax.localhost>
Subject: Invoice 88
Date: Thu, 14 Mar 2024 17:40:00 +0000
Message-ID: <DM6PR11MB4107SIG0003@DM6PR11MB4107.namprd11.prod.outlook.com>
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0
Content-Type: multipart/mixed; boundary="_005_sig_"

--_005_sig_
Content-Type: multipart/related; boundary="_004_sig_"; type="multipart/alternative"

--_004_sig_
Content-Type: multipart/alternative; boundary="_000_sig_"

--_000_sig_
Content-Type: text/plain; charset="us-ascii"

Invoice 88 attached.

Robert Baker
[cid:image001.png@01DA75F4.2A3B4C50]

--_000_sig_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Invoice 88 attached.</p><div id=3D"Signature"><p>Robert Baker</p><img src=3D"cid:image001.png@01DA75F4.2A3B4C50"></div></body></html>

--_000_sig_--

--_004_sig_
Content-Type: image/png; name="image001.png"
Content-Description: image001.png
Content-Disposition: inline; filename="image001.png"
Content-ID: <image001.png@01DA75F4.2A3B4C50>
Content-Transfer-Encoding: base64

{b64(image("PNG", size=(90, 30)))}

--_004_sig_--

--_005_sig_
Content-Type: application/pdf; name="Invoice 88.pdf"
Content-Disposition: attachment; filename="Invoice 88.pdf"
Content-Transfer-Encoding: base64

{b64(pdf(1, "Invoice 88"))}

--_005_sig_--
"""


MESSAGES = {
    "outlook_winmail": outlook_winmail,
    "outlook_winmail_only": outlook_winmail_only,
    "gmail_inline_image": gmail_inline_image,
    "apple_mail_inline_pdf": apple_mail_inline_pdf,
    "thunderbird_rfc2231": thunderbird_rfc2231,
    "scanner_xerox": scanner_xerox,
    "scanner_hp_octet": scanner_hp_octet,
    "forwarded_rfc822": forwarded_rfc822,
    "forwarded_text_only": forwarded_text_only,
    "utf8_body": utf8_body,
    "latin1_body": latin1_body,
    "cp1252_body": cp1252_body,
    "outlook_calendar_invite": outlook_calendar_invite,
    "vcard": vcard,
    "smime_signed": smime_signed,
    "html_only": html_only,
    "body_only": body_only,
    "empty": empty,
    "empty_attachment": empty_attachment,
    "unfaxable_attachments": unfaxable_attachments,
    "rfc2047_filename": rfc2047_filename,
    "iphone_photo": iphone_photo,
    "attachment_order": attachment_order,
    "auto_reply": auto_reply,
    "mailing_list": mailing_list,
    "broken_base64": broken_base64,
    "outlook_reply_quote": outlook_reply_quote,
    "outlook_html_signature": outlook_html_signature,
}
# Bodies sent as 8-bit in a legacy charset are written in that charset, byte for byte.
CHARSETS = {"latin1_body": "latin-1"}


def main() -> None:
    for name, make in MESSAGES.items():
        text = make()
        data = text.encode(CHARSETS.get(name, "utf-8")).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        (HERE / f"{name}.eml").write_bytes(data)


if __name__ == "__main__":
    main()
