"""Writer process for the durability test: audited writes forever, printing each committed id.

Run as `python durability_writer.py <database-url>`; it is killed with SIGKILL by the test.
"""

import sys
from datetime import date

from store_helpers import writes

from endotrial.store import Participant, Site, Ultrasound, make_engine


def main(url: str) -> None:
    engine = make_engine(url)
    with writes(engine, "writer") as session:
        site = Site(code="GZ6", name="Sixth Affiliated Hospital")
        session.add(site)
        session.flush()
        participant = Participant(study_id="P001", site_id=site.id, status="enrolled")
        session.add(participant)
        session.flush()
        participant_id = participant.id
    n, scan_id = 0, 0
    while True:
        n += 1
        with writes(engine, "writer", reason="durability test correction") as session:
            scan = Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 1))
            scan.thickness_mm = float(n)
            session.add(scan)
            if n > 1:
                previous = session.get_one(Ultrasound, scan_id)
                previous.trilaminar = True
            session.flush()
            scan_id = scan.id
        print(scan_id, flush=True)  # only after the commit returned: acknowledged


if __name__ == "__main__":
    main(sys.argv[1])
